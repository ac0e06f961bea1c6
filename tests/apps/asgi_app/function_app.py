"""Fixture app: a Starlette ASGI app served through AsgiFunctionApp."""

import azure.functions as func
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def widgets(request):
    return JSONResponse({"path": request.url.path, "id": request.path_params["wid"],
                         "q": request.query_params.get("q")})


api = Starlette(routes=[Route("/api/widgets/{wid}", widgets)])
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)
