"""`batch`: the guidance's Azure Batch case as fan-out/fan-in over a CSV blob.

    {"blob": "batch-input/sales.csv", "parts": 8}

The CSV has a header ``id,amount`` and any number of rows. The dispatcher splits the blob
into `parts` byte ranges and sends one message per range to ``batch-parts``, where
competing consumers (every instance of the jobs app) each sum their range; a part owns
the lines that start inside its range, so no line is counted twice or missed. The job's
progress is parts done / total, and when the last part finishes one reduce step (exactly
once, also when two parts finish together or a part is redelivered) records
``{"rows": <count>, "total": <sum of amount>}``. A malformed file fails the job for good,
naming the line; a cancellation stops the remaining parts.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError

from shared.coordination import FanOut, Part
from shared.errors import InvalidTransition, JobCancelled, StatusConflict
from shared.status import JobState, JobStatus

from .kind import Kind
from .services import json_body, services

log = logging.getLogger(__name__)
bp = func.Blueprint()

PARTS_QUEUE = "batch-parts"
HEADER = ["id", "amount"]
_CHUNK = 64 * 1024  # read past a range's end in steps this size, to finish its last line

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["blob"],
    "additionalProperties": False,
    "properties": {
        "blob": {"type": "string", "pattern": "^batch-input/[^/]+\\.csv$"},
        "parts": {"type": "integer", "minimum": 1, "maximum": 64, "default": 8},
    },
}


class BadInput(Exception):
    """The file cannot be processed, however often it is tried."""


@functools.cache
def fanout() -> FanOut:
    s = services()
    return FanOut(s.account, s.queues, ledger=s.ledger, status=s.status)


async def split(job: JobStatus) -> None:
    """The dispatcher's part: start the job and send a message per byte range. Running it
    again (a redelivered ticket) resends only the parts not done."""
    store = services().status
    if job.state is JobState.PENDING:
        job = await store.start(job, message="splitting")
    container, name = job.input["blob"].split("/", 1)
    blob = services().account.blob_service().get_blob_client(container, name)
    try:
        size = (await blob.get_blob_properties()).size
    except ResourceNotFoundError:
        await store.fail(job, f"{job.input['blob']} does not exist")
        return
    parts = min(int(job.input.get("parts", 8)), max(size, 1))
    step = -(-size // parts)  # ceiling: the last range may be shorter
    ranges = [
        {"blob": job.input["blob"], "start": i * step, "end": min((i + 1) * step, size)}
        for i in range(parts)
    ]
    await fanout().start(job.job_id, ranges, PARTS_QUEUE)


@bp.queue_trigger(arg_name="msg", queue_name=PARTS_QUEUE, connection="AzureWebJobsStorage")
async def batch_part(msg: func.QueueMessage) -> None:
    part = Part.from_message(json_body(msg.get_body()))
    store = services().status
    job = await store.get(part.job_id)
    if job.state.is_final:
        return  # failed, cancelled or reduced already
    if job.cancel_requested:
        await _end(job, JobState.CANCELLED, "cancelled between parts")
        return
    try:
        rows, total = await _sum(part.input)
    except BadInput as exc:
        await _end(job, JobState.FAILED, f"{part.input['blob']}: {exc}")
        return
    fan_in = await fanout().finish_part(part, {"rows": rows, "total": str(total)})
    if fan_in.complete:
        await fanout().reduce(part.job_id, functools.partial(_reduce, part.job_id))


async def _reduce(job_id: str, results: list[Any]) -> dict[str, Any]:
    store = services().status
    job = await store.get(job_id)
    rows = sum(int(r["rows"]) for r in results)
    total = sum((Decimal(r["total"]) for r in results), Decimal(0))
    result = {"rows": rows, "total": float(total)}
    try:
        await store.succeed(job, result=result, unless_cancelled=True)
    except JobCancelled:
        # Cancelled while its last parts ran: the reduce is the job's next step, so a
        # cancellation the API accepted (202) ends the job Cancelled, not Succeeded.
        await _end(await store.get(job_id), JobState.CANCELLED, "cancelled before the reduce")
        return {"cancelled": True}
    log.info("batch %s: %d rows, total %s", job_id, rows, total)
    return result


async def _end(job: JobStatus, state: JobState, reason: str) -> None:
    """Fail or cancel the job once: other parts finding it final meanwhile is fine."""
    store = services().status
    try:
        if state is JobState.CANCELLED:
            await store.cancel(job, reason)
        else:
            await store.fail(job, reason)
    except (InvalidTransition, StatusConflict):
        pass  # another part ended it first


async def _sum(span: dict[str, Any]) -> tuple[int, Decimal]:
    """(rows, sum of amount) of the lines starting in [start, end)."""
    first = int(span["start"]) == 0
    try:
        data = await _lines(span["blob"], int(span["start"]), int(span["end"]))
    except ResourceNotFoundError:  # the split found it: deleted since, no retry brings it back
        raise BadInput("it does not exist any more (deleted while the job ran)") from None
    reader = csv.reader(io.StringIO(_text(data, first)))
    if first:
        header = next(reader, None)
        if header != HEADER:
            raise BadInput(f"the header is {header!r}, expected {','.join(HEADER)}")
    rows, total = 0, Decimal(0)
    for line in reader:
        if not line:
            continue
        if len(line) != len(HEADER):
            raise BadInput(f"row {line!r} has {len(line)} fields, expected {len(HEADER)}")
        total += _amount(line)
        rows += 1
    return rows, total


def _amount(line: list[str]) -> Decimal:
    """The row's amount (BadInput naming the row if it is none). Decimal also reads "NaN"
    and "Infinity", which are no amounts either: they would make the total one of them."""
    try:
        amount = Decimal(line[1])
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise BadInput(f"row id={line[0]}: amount {line[1]!r} is not a number")
    return amount


def _text(data: bytes, first: bool) -> str:
    """A part's lines as text. Excel's "CSV UTF-8" starts the file with a byte order mark
    (not part of the header); its "CSV" is not UTF-8 at all, and no retry will change that."""
    try:
        return data.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        line = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")
        raise BadInput(f"row {line!r} is not UTF-8 text") from None


async def _lines(path: str, start: int, end: int) -> bytes:
    """The whole lines whose first byte lies in [start, end)."""
    if start >= end:
        return b""
    container, name = path.split("/", 1)
    blob = services().account.blob_service().get_blob_client(container, name)
    size = (await blob.get_blob_properties()).size
    offset = max(start - 1, 0)  # one byte before: was a line starting exactly at `start`?
    data = await (await blob.download_blob(offset, end - offset)).readall()
    while not data.endswith(b"\n") and offset + len(data) < size:
        more = await (await blob.download_blob(offset + len(data), _CHUNK)).readall()
        cut = more.find(b"\n")
        data += more if cut < 0 else more[: cut + 1]
    if start > 0:  # drop the line that began before `start` (the previous part's)
        first = data.find(b"\n")
        data = b"" if first < 0 else data[first + 1 :]
    return data


KIND = Kind(
    "batch",
    "Sum a CSV blob (id,amount) in parallel parts: rows and total",
    SCHEMA,
    run=split,
)
