"""The OpenAPI 3.1 document of the jobs API, built from the kinds' own input schemas (the
same schemas the API validates with), so the document cannot drift from the code."""

from __future__ import annotations

import functools
from typing import Any

from shared.status import JobState

from .catalog import KINDS

PROBLEM = {"$ref": "#/components/responses/Problem"}
JOB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


@functools.cache
def document() -> dict[str, Any]:
    """The whole document (a JSON object)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Background jobs",
            "version": "1.0.0",
            "description": (
                "Submit a job, then poll its Location until it is final (or give a callback "
                "URL: the final status is POSTed there, signed with X-Jobs-Signature)."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": {
            "/jobs": {"post": _submit(), "get": _list()},
            "/jobs/{id}": {"get": _get(), "delete": _cancel()},
        },
        "components": {
            "schemas": {"Job": _job(), "Submission": _submission(), "Problem": _problem()},
            "responses": {
                "Problem": {
                    "description": "What is wrong (RFC 9457)",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


def _submission() -> dict[str, Any]:
    variants = [
        {
            "title": kind.name,
            "description": kind.summary,
            "properties": {"kind": {"const": kind.name}, "input": dict(kind.schema)},
        }
        for kind in KINDS.values()
    ]
    return {
        "type": "object",
        "required": ["kind", "input"],
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": sorted(KINDS)},
            "input": {"type": "object"},
            "priority": {"enum": ["high", "normal"], "default": "normal"},
            "callback": {"type": "string", "format": "uri"},
            "run_at": {"type": "string", "format": "date-time"},
        },
        "oneOf": variants,
    }


def _job() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "kind", "status", "progress", "created", "updated"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"enum": sorted(KINDS)},
            "status": {"enum": [state.value for state in JobState]},
            "progress": {
                "type": "object",
                "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            },
            "result": {"description": "When Succeeded or Compensated"},
            "resultLocation": {"type": "string"},
            "error": {"type": "string", "description": "When Failed (or Compensated: why)"},
            "created": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time"},
        },
    }


def _problem() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


def _job_response(description: str, *, location: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
    }
    if location:
        response["headers"] = {"Location": {"schema": {"type": "string"}}}
    return response


def _submit() -> dict[str, Any]:
    return {
        "operationId": "submitJob",
        "summary": "Submit a job",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "schema": {"type": "string"},
                "description": "The same key and body give the same job; another body 422.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Submission"}}
            },
        },
        "responses": {
            "202": {
                "description": "Accepted: poll Location",
                "headers": {
                    "Location": {"schema": {"type": "string"}},
                    "Retry-After": {"schema": {"type": "integer"}},
                },
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
                        }
                    }
                },
            },
            "400": PROBLEM,
            "409": PROBLEM,
            "413": PROBLEM,
            "415": PROBLEM,
            "422": PROBLEM,
        },
    }


def _get() -> dict[str, Any]:
    return {
        "operationId": "getJob",
        "summary": "A job's status",
        "parameters": [JOB_ID],
        "responses": {"200": _job_response("The job"), "404": PROBLEM},
    }


def _cancel() -> dict[str, Any]:
    return {
        "operationId": "cancelJob",
        "summary": "Cancel a job (completed steps are compensated)",
        "parameters": [JOB_ID],
        "responses": {
            "202": _job_response("Cancellation requested", location=True),
            "404": PROBLEM,
            "409": PROBLEM,
            "503": PROBLEM,  # busy: try again after Retry-After (shared/jobapi.py)
        },
    }


def _list() -> dict[str, Any]:
    return {
        "operationId": "listJobs",
        "summary": "Jobs, newest first",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": [s.value for s in JobState]}},
            {"name": "kind", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
        ],
        "responses": {
            "200": {
                "description": "The jobs",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "jobs": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Job"},
                                }
                            },
                        }
                    }
                },
            },
            "400": PROBLEM,
        },
    }
