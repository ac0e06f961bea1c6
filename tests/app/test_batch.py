"""`batch` end to end: a CSV blob in batch-input/ submitted over HTTP, summed in parallel
parts (fan-out over byte ranges on ``batch-parts``), reduced once; rows and total checked
against a sum computed here with Decimal."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tests.app.conftest import FINAL, JobsApp

pytestmark = pytest.mark.integration

HEADER = b"id,amount\n"


@dataclass(frozen=True)
class Csv:
    """A CSV uploaded to batch-input/, and what its rows add up to."""

    blob: str
    data: bytes
    rows: int
    total: Decimal


def make_rows(count: int, seed: int) -> tuple[bytes, Decimal]:
    """`count` rows of id,amount (cents, some negative, some without decimals); their sum."""
    rng = random.Random(seed)
    lines, total = [], Decimal(0)
    for i in range(count):
        cents = rng.randint(-50_000, 5_000_000)
        amount = Decimal(cents).scaleb(-2) if i % 7 else Decimal(cents // 100)
        total += amount
        lines.append(f"{i},{amount}\n")
    return "".join(lines).encode(), total


def upload(app: JobsApp, name: str, data: bytes) -> str:
    blob = f"batch-input/{name}.csv"
    app.host.upload_blob(blob, data, scan=False)
    return blob


@pytest.fixture(scope="module")
def sales(app: JobsApp) -> Csv:
    """30,000 rows (about 300 KB)."""
    rows, total = make_rows(30_000, seed=7)
    name = f"sales-{random.getrandbits(40):x}"
    return Csv(upload(app, name, HEADER + rows), HEADER + rows, 30_000, total)


@pytest.fixture(scope="module")
def big(app: JobsApp) -> Csv:
    """400,000 rows (about 4.5 MB): 64 parts take seconds, time to act while they run."""
    rows, total = make_rows(400_000, seed=11)
    name = f"big-{random.getrandbits(40):x}"
    return Csv(upload(app, name, HEADER + rows), HEADER + rows, 400_000, total)


def total_of(result: dict[str, Any]) -> Decimal:
    return Decimal(str(result["total"]))


@pytest.mark.parametrize("parts", [1, 3, 8])
def test_a_csv_is_summed_exactly_in_n_parts(app: JobsApp, sales: Csv, parts: int) -> None:
    job_id = app.start("batch", {"blob": sales.blob, "parts": parts})
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert final["result"]["rows"] == sales.rows
    assert total_of(final["result"]) == sales.total
    assert final["progress"] == {"done": parts, "total": parts}
    assert parts_done(app, job_id) == (parts, parts)


def boundary_file() -> tuple[bytes, int, Decimal]:
    """A file of 600 bytes cut in 6 parts of 100 bytes, whose cuts fall on every kind of
    place: 100 on a line's first byte, 200 in the middle of a line, 300 on a line's "\\n",
    400 and 500 inside one line longer than a part (part 4 owns no line at all); the last
    line has no "\\n". Returns (data, rows, total)."""
    lines: list[bytes] = [HEADER]
    amounts: list[Decimal] = []

    def row(end: int, amount: str, newline: bool = True) -> None:
        start = sum(map(len, lines))
        prefix, suffix = str(len(amounts)), f",{amount}" + ("\n" if newline else "")
        pad = end - start - len(prefix) - len(suffix)
        assert pad >= 1, (end, start)
        lines.append((prefix + "-" * pad + suffix).encode())
        amounts.append(Decimal(amount))

    for i in range(9):  # 10-byte rows up to 100: the cut at 100 is a line's first byte
        row(20 + 10 * i, f"{i}.5")
    row(150, "1.25")
    row(260, "-2.75")  # crosses 200
    row(301, "3.00")  # its "\n" is byte 300
    row(510, "1000.01")  # from 301 over 400 and 500
    for i in range(8):
        row(520 + 10 * i, f"0.0{i + 1}")
    row(600, "7", newline=False)
    data = b"".join(lines)
    assert len(data) == 600
    assert data[99:101] == b"\n9" and data[200:201] != b"\n" and data[300:301] == b"\n"
    return data, len(amounts), sum(amounts, Decimal(0))


@pytest.mark.parametrize("parts", [6, 7, 13, 64])
def test_rows_across_part_boundaries_are_counted_once(
    app: JobsApp, unique: str, parts: int
) -> None:
    data, rows, total = boundary_file()
    blob = upload(app, f"edges-{unique}", data)
    final = app.wait(app.start("batch", {"blob": blob, "parts": parts}))
    assert final["status"] == "Succeeded", final
    assert (final["result"]["rows"], total_of(final["result"])) == (rows, total)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("17,twelve\n", "row id=17: amount 'twelve'"),
        ("18,1.5,extra\n", "['18', '1.5', 'extra']"),
        ("19,\n", "row id=19: amount ''"),
        ("20,NaN\n", "row id=20: amount 'NaN'"),  # Decimal reads these; they are no amounts
        ("21,-Infinity\n", "row id=21: amount '-Infinity'"),
    ],
)
def test_a_malformed_row_fails_the_job_naming_it(
    app: JobsApp, unique: str, bad: str, named: str
) -> None:
    rows, _ = make_rows(3_000, seed=3)
    middle = rows.index(b"\n1500,") + 1  # in the second of three parts
    blob = upload(app, f"bad-{unique}", HEADER + rows[:middle] + bad.encode() + rows[middle:])
    final = app.wait(app.start("batch", {"blob": blob, "parts": 3}))
    assert final["status"] == "Failed", final
    assert blob in final["error"] and named in final["error"], final["error"]
    assert "result" not in final


def test_a_csv_saved_with_a_byte_order_mark_is_summed(app: JobsApp, unique: str) -> None:
    # Excel's "CSV UTF-8" starts the file with a BOM, which is no part of the header.
    rows, total = make_rows(2_000, seed=5)
    blob = upload(app, f"bom-{unique}", "\ufeff".encode() + HEADER + rows)
    final = app.wait(app.start("batch", {"blob": blob, "parts": 3}))
    assert final["status"] == "Succeeded", final
    assert (final["result"]["rows"], total_of(final["result"])) == (2_000, total)


def test_a_row_that_is_not_utf8_fails_the_job_naming_it(app: JobsApp, unique: str) -> None:
    rows, _ = make_rows(3_000, seed=4)
    middle = rows.index(b"\n2000,") + 1  # in the third of three parts
    bad = "caf\u00e9-22,1.50\n".encode("latin-1")  # saved as "ANSI", not UTF-8
    blob = upload(app, f"latin-{unique}", HEADER + rows[:middle] + bad + rows[middle:])
    final = app.wait(app.start("batch", {"blob": blob, "parts": 3}), timeout=20)
    assert final["status"] == "Failed", final
    assert blob in final["error"] and "caf" in final["error"] and "UTF-8" in final["error"]


def test_a_wrong_header_fails_the_job(app: JobsApp, unique: str) -> None:
    blob = upload(app, f"header-{unique}", b"id;amount\n1;2\n")
    final = app.wait(app.start("batch", {"blob": blob, "parts": 1}))
    assert final["status"] == "Failed", final
    assert "expected id,amount" in final["error"]


def test_a_missing_blob_fails_the_job(app: JobsApp, unique: str) -> None:
    blob = f"batch-input/missing-{unique}.csv"
    final = app.wait(app.start("batch", {"blob": blob, "parts": 3}))
    assert final["status"] == "Failed", final
    assert final["error"] == f"{blob} does not exist"


def test_parts_delivered_twice_do_not_change_the_result(app: JobsApp, big: Csv) -> None:
    parts = 64
    job_id = app.start("batch", {"blob": big.blob, "parts": parts})
    # While it runs: a copy of every part, done ones and waiting ones alike.
    app.wait(job_id, started)
    for message in part_messages(job_id, big, parts):
        app.host.send_queue("batch-parts", message)
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert final["result"]["rows"] == big.rows and total_of(final["result"]) == big.total
    assert final["progress"] == {"done": parts, "total": parts}
    # Once all copies ran (each found its part done or the job final), nothing changed:
    # the reduce ran once and the record is as it was.
    app.host.wait_idle(timeout=60)
    assert reduces_logged(app, job_id) == 1
    assert app.status(job_id) == final
    assert parts_done(app, job_id) == (parts, parts)


def test_parts_delivered_again_after_the_end_change_nothing(app: JobsApp, sales: Csv) -> None:
    job_id = app.start("batch", {"blob": sales.blob, "parts": 3})
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    before = len([r for r in app.host.invocations("batch_part") if r.ok])
    for message in part_messages(job_id, sales, 3):
        app.host.send_queue("batch-parts", message)
    app.host.wait_for("batch_part", before + 3, ok=True)
    assert app.status(job_id) == final
    assert reduces_logged(app, job_id) == 1


def test_an_input_deleted_while_the_job_runs_fails_it(app: JobsApp, big: Csv) -> None:
    from functions.services import services

    blob = upload(app, f"{big.blob[len('batch-input/') : -len('.csv')]}-copy", big.data)
    job_id = app.start("batch", {"blob": blob, "parts": 64})
    app.wait(job_id, started)

    async def delete() -> None:
        container, name = blob.split("/", 1)
        await services().account.container(container).delete_blob(name)

    app.run(delete)
    final = app.wait(job_id, timeout=20)
    if final["status"] == "Succeeded":  # every part had read its range already
        pytest.skip("the batch finished before its input was deleted")
    assert final["status"] == "Failed", final
    assert f"{blob}: it does not exist any more" in final["error"], final


def test_cancelling_a_running_batch_stops_its_remaining_parts(app: JobsApp, big: Csv) -> None:
    parts = 64
    job_id = app.start("batch", {"blob": big.blob, "parts": parts})
    running = app.wait(job_id, started)
    response = cancel(app, job_id)
    if response.status_code == 409:  # every part finished before the request: nothing to stop
        final = app.status(job_id)
        assert final["status"] == "Succeeded" and total_of(final["result"]) == big.total
        pytest.skip(f"the batch finished before it could be cancelled: {running}")
    assert response.status_code == 202, response.text
    final = app.wait(job_id)
    assert final["status"] == "Cancelled", final
    assert "result" not in final
    app.host.wait_idle(timeout=60)
    done, total = parts_done(app, job_id)
    assert total == parts
    if done == parts:  # every part had passed its check: the reduce honoured the request
        pytest.skip(f"every part had run before the cancellation landed: {running}")
    assert done < parts  # the parts after the request did not run
    assert app.status(job_id)["status"] == "Cancelled"  # and none of them changed it


# --- helpers ---------------------------------------------------------------------------------


def started(status: dict[str, Any]) -> bool:
    """At least one part done (the job is under way), or the job is over."""
    return status["progress"]["done"] >= 1 or status["status"] in FINAL


def cancel(app: JobsApp, job_id: str) -> Any:
    """DELETE the job, as a client does: again after a 503, when Retry-After says. While
    many parts write their progress, the cancellation can lose its ETag race on every try
    (shared/status/store.py `request_cancel`); the API then answers 503 (shared/jobapi.py)."""
    deadline = time.monotonic() + 30
    while True:
        response = app.host.request("DELETE", f"/api/jobs/{job_id}")
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(int(response.headers["Retry-After"]))


def part_messages(job_id: str, csv: Csv, parts: int) -> Iterator[dict[str, Any]]:
    """The messages the job's split sent (`shared.coordination.Part` of each byte range)."""
    size = len(csv.data)
    step = -(-size // parts)
    for i in range(parts):
        span = {"blob": csv.blob, "start": i * step, "end": min((i + 1) * step, size)}
        yield {"jobId": job_id, "part": i, "of": parts, "input": span}


def parts_done(app: JobsApp, job_id: str) -> tuple[int, int]:
    """(parts done, parts) as the fan-out table records them."""
    from functions.batch import fanout

    async def progress() -> tuple[int, int]:
        return await fanout().progress(job_id)

    found: tuple[int, int] = app.run(progress)
    return found


def reduces_logged(app: JobsApp, job_id: str) -> int:
    return sum(line.count(f"batch {job_id}: ") for line in app.host.logs)
