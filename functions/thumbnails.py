"""`thumbnail`: an event-driven blob job. An image uploaded to ``images/{name}`` gets a
thumbnail at ``thumbnails/{name}``: the same format, its longest side 256 px.

Two ways in, one piece of work (`make_thumbnail`):

- the blob trigger on ``images/{name}``: the upload itself is the job. Its status record's
  id comes from the blob's name and content (``thumb-<hash>``), so a retried trigger finds
  the same record and the same upload is one job;
- ``POST /api/jobs {"kind": "thumbnail", "input": {"blob": "images/<name>"}}``: the
  dispatcher runs it, with priority and `run_at` like any kind.

A file that is not an image fails on every try: the host retries the trigger (5 times) and
then puts it on the poison queue (``webjobs-blobtrigger-poison``, or ``jobs-*-poison`` for an
API job); the job ends Failed with the reason (each failed try notes it on the record, and
the poison function below turns the last note into the failure).
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.deadletters import BLOB_TRIGGER_POISON
from shared.errors import InvalidTransition, StatusConflict
from shared.status import JobState, JobStatus

from .kind import Kind, Outcome, one_step
from .services import json_body, services

log = logging.getLogger(__name__)
bp = func.Blueprint()

SIZE = 256
SOURCE = "images"
TARGET = "thumbnails"
FAILED_TRY = "try failed: "  # a failed try's note on the record, read by the poison function

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["blob"],
    "additionalProperties": False,
    "properties": {"blob": {"type": "string", "pattern": f"^{SOURCE}/[^/]+$"}},
}


class NotAnImage(ValueError):
    """The blob is not an image: no retry will change that."""


def shrink(data: bytes) -> tuple[bytes, str, tuple[int, int]]:
    """The thumbnail of an image: (bytes, MIME type, size). Raises NotAnImage for a file
    that is not an image."""
    try:
        opened = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImage(f"not an image ({len(data)} bytes Pillow cannot read)") from None
    with opened as image:
        fmt = image.format or "PNG"
        # Cameras store a portrait photo as landscape pixels with an EXIF orientation;
        # the thumbnail is saved without EXIF, so its pixels are turned the way it shows.
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((SIZE, SIZE))
        out = io.BytesIO()
        upright.save(out, format=fmt)
        return out.getvalue(), Image.MIME.get(fmt, "application/octet-stream"), upright.size


async def make_thumbnail(name: str, data: bytes) -> Outcome:
    """Write ``thumbnails/<name>`` for the image `data` of ``images/<name>``."""
    thumb, mime, (width, height) = shrink(data)
    container = await services().account.ensure_container(TARGET)
    blob = container.get_blob_client(name)
    await blob.upload_blob(thumb, overwrite=True, content_settings=ContentSettings(mime))
    return Outcome({"width": width, "height": height, "bytes": len(thumb)}, blob.url)


async def _from_api(job: JobStatus) -> Outcome:
    name = job.input["blob"].split("/", 1)[1]
    container = services().account.container(SOURCE)
    try:
        data = await (await container.download_blob(name)).readall()
    except ResourceNotFoundError:
        raise ValueError(f"{job.input['blob']} does not exist") from None
    return await make_thumbnail(name, data)


@bp.blob_trigger(arg_name="image", path=f"{SOURCE}/{{name}}", connection="AzureWebJobsStorage")
async def thumbnail_on_upload(image: func.InputStream) -> None:
    data = image.read()
    path = image.name or ""
    name = path.split("/", 1)[1]
    store = services().status
    job = await _upload_job(path, data)
    if job.state.is_final:
        return  # this upload was handled before
    if job.state is JobState.PENDING:
        job = await store.start(job)
    try:
        done = await make_thumbnail(name, data)
    except Exception as exc:
        await _note_failure(job, exc)
        raise
    await store.succeed(
        await store.get(job.job_id), result=done.result, result_location=done.location
    )


@bp.queue_trigger(arg_name="msg", queue_name=BLOB_TRIGGER_POISON, connection="AzureWebJobsStorage")
async def thumbnail_poison(msg: func.QueueMessage) -> None:
    """The host gave up on an upload: fail its job with the last try's reason."""
    body = json_body(msg.get_body())
    container, name = str(body.get("ContainerName")), str(body.get("BlobName"))
    if container != SOURCE:
        log.warning("poisoned blob %s/%s is not an upload of this app: left alone", container, name)
        return
    try:
        data = await (await services().account.container(SOURCE).download_blob(name)).readall()
    except ResourceNotFoundError:
        log.warning("poisoned upload %s/%s was deleted since: no job to mark", container, name)
        return
    store = services().status
    job = await store.find(upload_job_id(f"{container}/{name}", data))
    if job is None or job.state.is_final:
        return
    reason = job.message[len(FAILED_TRY) :] if job.message.startswith(FAILED_TRY) else "unknown"
    failed = await store.fail(job, f"{container}/{name} was given up (poison): {reason}")
    log.warning("job %s failed: %s", failed.job_id, failed.error)


def upload_job_id(path: str, data: bytes) -> str:
    """The job id of an upload: the same name and content, the same job."""
    digest = hashlib.sha256(path.encode() + b"\0" + data).hexdigest()
    return f"thumb-{digest[:32]}"


async def _upload_job(path: str, data: bytes) -> JobStatus:
    store = services().status
    job_id = upload_job_id(path, data)
    if (job := await store.find(job_id)) is not None:
        return job
    try:
        return await store.create("thumbnail", job_id=job_id, input={"blob": path})
    except StatusConflict:  # the same upload's other trigger run created it first
        return await store.get(job_id)


async def _note_failure(job: JobStatus, exc: Exception) -> None:
    try:
        await services().status.note(await services().status.get(job.job_id), f"{FAILED_TRY}{exc}")
    except (StatusConflict, InvalidTransition):
        log.warning("job %s: could not note the failed try", job.job_id)


KIND = Kind(
    "thumbnail",
    "A 256 px thumbnail of an image blob in images/, written to thumbnails/",
    SCHEMA,
    run=one_step(_from_api),
)
