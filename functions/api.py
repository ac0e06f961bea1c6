"""The jobs API (asynchronous request-reply): submit, poll, cancel and list jobs.

    POST   /api/jobs          202 + Location + Retry-After (Idempotency-Key honoured)
    GET    /api/jobs/{id}     200 with status, progress, result or error; 404
    DELETE /api/jobs/{id}     202; 404; 409 when already final
    GET    /api/jobs?status=  200 {"jobs": [...]}
    GET    /api/openapi.json  the OpenAPI document of all of the above

Function keys guard the job routes (the app's `http_auth_level`); the OpenAPI document is
anonymous, as API descriptions usually are. These are the API app's functions: the jobs
app disables them (infra/main.bicep).
"""

from __future__ import annotations

import json

import azure.functions as func

from .catalog import job_api
from .openapi import document

bp = func.Blueprint()


@bp.route(route="jobs", methods=["POST"])
async def submit_job(req: func.HttpRequest) -> func.HttpResponse:
    return await job_api().submit(req)


@bp.route(route="jobs/{id}", methods=["GET"])
async def get_job(req: func.HttpRequest) -> func.HttpResponse:
    return await job_api().status(req.route_params["id"])


@bp.route(route="jobs/{id}", methods=["DELETE"])
async def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
    return await job_api().cancel(req.route_params["id"])


@bp.route(route="jobs", methods=["GET"])
async def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    return await job_api().list(req)


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document()), mimetype="application/json")
