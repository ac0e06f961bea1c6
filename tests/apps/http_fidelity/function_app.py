"""Fixture app: HTTP details that must match the real host's: cookies, a None response,
the warmup function."""

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

@app.route(route="cookies", auth_level=func.AuthLevel.ANONYMOUS)
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("cookies set")
    response.headers.add("Set-Cookie", "plain=1")
    response.headers.add(
        "Set-Cookie",
        "full=\"a b\"; HttpOnly; Max-Age=3600; Path=/app; Secure; SameSite=Lax; "
        "Expires=Wed, 21 Oct 2026 07:28:00 GMT; Domain=example.com",
    )
    return response


@app.route(route="cookies/bad", auth_level=func.AuthLevel.ANONYMOUS)
def bad_cookie(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never sent", headers={"Set-Cookie": "when=1; Expires=someday"})


@app.route(route="nothing", auth_level=func.AuthLevel.ANONYMOUS)
def nothing(req: func.HttpRequest) -> func.HttpResponse:
    return None  # type: ignore[return-value]  # what the test is about


@app.function_name(name="warmup")
@app.warm_up_trigger("warmup")
def warmup(warmup) -> None:  # unannotated, as Microsoft's sample has it
    logging.info("Function App instance is warm (%s)", type(warmup).__name__)


@app.warm_up_trigger("ctx")
def not_named_warmup(ctx) -> None:
    raise AssertionError("Azure never runs a warmup trigger on a function not named warmup")
