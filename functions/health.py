"""Liveness of the app itself: answers without touching any dependency."""

import json
import logging

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("health check")
    return func.HttpResponse(json.dumps({"status": "ok"}), mimetype="application/json")
