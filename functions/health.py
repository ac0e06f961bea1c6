"""Liveness of the app itself: answers without touching any dependency."""

import json
import logging

import azure.functions as func

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    log.info("health check")
    return func.HttpResponse(json.dumps({"status": "ok"}), mimetype="application/json")
