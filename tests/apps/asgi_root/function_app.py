"""Fixture app: an ASGI app that owns every path, `/` included (routePrefix "")."""

import azure.functions as func
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def home(request):
    return PlainTextResponse("the app's own home page")


api = Starlette(routes=[Route("/", home)])
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)
