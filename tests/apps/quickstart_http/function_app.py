"""Fixture app: the official HTTP quickstart's shape (Azure-Samples/
functions-quickstart-python-http-azd, function_app.py): the FunctionApp's default
FUNCTION auth level, and requests made without a key, as `func start` allows them."""

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="httpget", methods=["GET"])
def http_get(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "World")
    logging.info("Processing GET request. Name: %s", name)
    return func.HttpResponse(f"Hello, {name}!")


@app.route(route="httppost", methods=["POST"])
def http_post(req: func.HttpRequest) -> func.HttpResponse:
    try:
        body = req.get_json()
    except ValueError:
        return func.HttpResponse("Invalid JSON in request body", status_code=400)
    name, age = body.get("name"), body.get("age")
    if isinstance(name, str) and isinstance(age, int):
        return func.HttpResponse(f"Hello, {name}! You are {age} years old!")
    return func.HttpResponse("Please provide both 'name' and 'age'.", status_code=400)
