"""`sensitive`: the Gatekeeper pattern. Personal data reaches the vault only through a queue.

    {"subject": "Ada Lovelace", "ssn": "123-45-6789", "note": "optional"}

The API app validates the input and hands it to ``sensitive-intake``, a queue in the
vault's own storage account (setting `SensitiveStorage`), where the API app may only add
messages. Only the jobs app reads that queue and writes the vault (table ``Vault``,
each record encrypted with Fernet under setting `SENSITIVE_KEY`); the job's status record
keeps which fields were given, never their values, and its result is an opaque token.
Infra gives the API app's identity "Queue Data Message Sender" on that account and the
jobs app's identity the rest (infra/main.bicep, the vault account). `run_at` delays the message;
`priority` has nothing to overtake here (one queue).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from datetime import datetime, timezone
from typing import Any

import azure.functions as func
from cryptography.fernet import Fernet

from shared.delayed import DelayedQueue
from shared.jobapi import JobRequest
from shared.settings import setting
from shared.status import JobState, JobStatus
from shared.storage import StorageAccount

from .kind import Kind
from .services import json_body, services

log = logging.getLogger(__name__)
bp = func.Blueprint()

CONNECTION = "SensitiveStorage"
INTAKE = "sensitive-intake"
VAULT = "Vault"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["subject", "ssn"],
    "additionalProperties": False,
    "properties": {
        "subject": {"type": "string", "minLength": 1, "maxLength": 200},
        "ssn": {"type": "string", "pattern": "^\\d{3}-\\d{2}-\\d{4}$"},
        "note": {"type": "string", "maxLength": 2000},
    },
}


@functools.cache
def vault_account() -> StorageAccount:
    return StorageAccount.from_settings(CONNECTION)


def _fernet() -> Fernet:
    return Fernet(setting("SENSITIVE_KEY").encode())


def redact(value: Any) -> dict[str, Any]:
    """What the status record keeps of an input: the names of its fields."""
    return {"fields": sorted(value)}


def intake() -> DelayedQueue:
    return DelayedQueue(vault_account(), INTAKE)


async def hand_over(job: JobStatus, request: JobRequest) -> None:
    """The API app's part: the input goes to the intake queue, nowhere else."""
    body = {"jobId": job.job_id, "input": request.input}
    await intake().send(body, at=request.run_at or datetime.now(timezone.utc))


@bp.queue_trigger(arg_name="msg", queue_name=INTAKE, connection=CONNECTION)
async def sensitive_intake(msg: func.QueueMessage) -> None:
    arrived = await intake().arrived(msg)
    if arrived is None:
        return  # due later than a message can hide: it went back to wait
    body = json_body(arrived)
    store = services().status
    job = await store.get(str(body["jobId"]))
    if job.state.is_final:
        return
    if job.state is JobState.PENDING:
        job = await store.start(job)
    token = await _vault(job.job_id, body["input"])
    await store.succeed(job, result={"token": token})


async def _vault(job_id: str, record: Any) -> str:
    """Encrypt and keep the record; its token. The same job stores once (upsert)."""
    key = setting("SENSITIVE_KEY").encode()
    token = "tok_" + hmac.new(key, job_id.encode(), hashlib.sha256).hexdigest()[:32]
    secret = _fernet().encrypt(json.dumps(record).encode()).decode()
    table = await vault_account().ensure_table(VAULT)
    await table.upsert_entity({"PartitionKey": token, "RowKey": "record", "Data": secret})
    log.info("vaulted a record for job %s", job_id)  # never the record itself
    return token


async def read_vault(token: str) -> dict[str, Any]:
    """The decrypted record of a token (an operator's tool; tests use it)."""
    table = await vault_account().ensure_table(VAULT)
    row = await table.get_entity(token, "record")
    found: dict[str, Any] = json.loads(_fernet().decrypt(row["Data"].encode()))
    return found


KIND = Kind(
    "sensitive",
    "Keep personal data encrypted in the vault; only the jobs app can read it (Gatekeeper)",
    SCHEMA,
    start=hand_over,
    keep=redact,
)
