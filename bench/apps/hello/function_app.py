"""Benchmark app: the smallest HTTP function."""

import azure.functions as func
from handler import hello_text  # type: ignore[import-not-found]  # beside this file; the worker puts the app folder on sys.path

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(hello_text(req.params.get("name")))
