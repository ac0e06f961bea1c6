"""Fixture app: a Starlette ASGI app served through AsgiFunctionApp, with a lifespan that
appends `startup`/`shutdown` to the file named by the LIFESPAN_LOG setting (when set)."""

import contextlib
import os

import azure.functions as func
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def widgets(request):
    return JSONResponse({"path": request.url.path, "id": request.path_params["wid"],
                         "q": request.query_params.get("q")})


def _note(event):
    if path := os.environ.get("LIFESPAN_LOG"):
        with open(path, "a") as log:
            log.write(event + "\n")


@contextlib.asynccontextmanager
async def lifespan(_app):
    _note("startup")
    yield
    _note("shutdown")


api = Starlette(routes=[Route("/api/widgets/{wid}", widgets)], lifespan=lifespan)
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)
