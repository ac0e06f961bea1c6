"""Fixture app: one good function, several that cannot be indexed."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = func.Blueprint()


@app.route(route="good")
def good(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("still here")


@app.route(route="extra/{id}")
def extra_param(req: func.HttpRequest, id: str) -> func.HttpResponse:
    return func.HttpResponse(id)


@app.route(route="admin/mine")
def reserved(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never")


@app.route(route="bad/{id:nosuchconstraint}")
def bad_constraint(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never")


@app.event_hub_message_trigger(arg_name="ev", event_hub_name="hub", connection="EH")
def hub(ev: func.EventHubEvent) -> None:
    pass


@bp.route(route="from-blueprint")
def from_blueprint(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("blueprint")


app.register_functions(bp)
