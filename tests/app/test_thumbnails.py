"""`thumbnail` end to end: an image uploaded to images/ (the blob trigger) or named in a
submission (the API) gets a 256 px thumbnail in thumbnails/, in its own format; a file
that is not an image is given up (poison) with the reason on its job, and a replay of
the API job's ticket, once the file is fixed, ends the same job Succeeded."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.app.conftest import FINAL, JobsApp, eventually

pytestmark = pytest.mark.integration


def image(size: tuple[int, int], fmt: str) -> bytes:
    """A picture (not a flat colour: real image data) of `size` in format `fmt`."""
    picture = Image.new("RGB", size, (30, 90, 160))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((size[0] // 5, size[1] // 5, size[0] // 2, size[1] // 2), fill=(240, 200, 40))
    draw.line((0, 0, *size), fill=(250, 250, 250), width=5)
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def upload_job_id(path: str, data: bytes) -> str:
    """The id the app gives an upload's job: ``thumb-`` + a hash of its name and content."""
    return "thumb-" + hashlib.sha256(path.encode() + b"\0" + data).hexdigest()[:32]


def thumbnail(app: JobsApp, name: str) -> Image.Image | None:
    """thumbnails/<name> opened with Pillow, or None while there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    from functions.services import services

    async def download() -> bytes | None:
        try:
            blob = services().account.container("thumbnails").get_blob_client(name)
            return bytes(await (await blob.download_blob()).readall())
        except ResourceNotFoundError:
            return None

    data = app.run(download)
    return None if data is None else Image.open(io.BytesIO(data))


def logged(record: Any, text: str) -> bool:
    """`text` is in a line `record` (an invocation) logged."""
    return any(text in line for line in record.logs)


def wait_upload(app: JobsApp, job_id: str) -> dict[str, Any]:
    """The final status of an upload's job, once the blob trigger has recorded it (the
    sweep that finds the blob only queues it: until the function runs there is no job)."""
    eventually(
        lambda: app.host.get(f"/api/jobs/{job_id}").status_code == 200, f"job {job_id} recorded"
    )
    return app.wait(job_id)


@pytest.mark.parametrize(
    ("fmt", "ext", "size", "thumb"),
    [("PNG", "png", (640, 480), (256, 192)), ("JPEG", "jpg", (300, 1000), (77, 256))],
)
def test_an_uploaded_image_gets_a_thumbnail_in_its_format(
    app: JobsApp, unique: str, fmt: str, ext: str, size: tuple[int, int], thumb: tuple[int, int]
) -> None:
    name = f"up-{unique}.{ext}"
    data = image(size, fmt)
    app.host.upload_blob(f"images/{name}", data)
    job_id = upload_job_id(f"images/{name}", data)
    final = wait_upload(app, job_id)
    assert final["status"] == "Succeeded", final
    assert final["kind"] == "thumbnail" and final["attempt"] == 1
    assert final["resultLocation"].endswith(f"/thumbnails/{name}")
    assert (final["result"]["width"], final["result"]["height"]) == thumb
    made = thumbnail(app, name)
    assert made is not None
    assert made.format == fmt and made.size == thumb


def test_a_photo_stored_sideways_gets_an_upright_thumbnail(app: JobsApp, unique: str) -> None:
    # Cameras store a portrait photo as landscape pixels with EXIF orientation 6 ("turn
    # 90 degrees clockwise to show"); the thumbnail has no EXIF, so it must be turned.
    picture = Image.open(io.BytesIO(image((600, 300), "JPEG")))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif.tobytes())
    name = f"portrait-{unique}.jpg"
    app.host.upload_blob(f"images/{name}", out.getvalue())
    final = wait_upload(app, upload_job_id(f"images/{name}", out.getvalue()))
    assert final["status"] == "Succeeded", final
    made = thumbnail(app, name)
    assert made is not None and made.format == "JPEG"
    assert made.size == (128, 256) and made.getexif().get(0x0112, 1) == 1


def test_the_same_upload_is_one_job(app: JobsApp, unique: str) -> None:
    name = f"again-{unique}.png"
    data = image((512, 512), "PNG")
    app.host.upload_blob(f"images/{name}", data)
    job_id = upload_job_id(f"images/{name}", data)
    first = wait_upload(app, job_id)
    assert first["status"] == "Succeeded", first
    # The same bytes again (a new blob version): the trigger fires, finds the job done.
    runs = len(app.host.invocations("thumbnail_on_upload"))
    app.host.upload_blob(f"images/{name}", data)
    app.host.wait_for("thumbnail_on_upload", runs + 1)
    assert app.status(job_id) == first


def test_a_thumbnail_job_submitted_over_the_api(app: JobsApp, unique: str) -> None:
    name = f"api-{unique}.png"
    app.host.upload_blob(f"images/{name}", image((1024, 300), "PNG"), scan=False)
    job_id = app.start("thumbnail", {"blob": f"images/{name}"})
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert final["resultLocation"].endswith(f"/thumbnails/{name}")
    made = thumbnail(app, name)
    assert made is not None and made.format == "PNG" and made.size == (256, 75)


def test_an_upload_that_is_not_an_image_is_given_up_and_its_job_failed(
    app: JobsApp, unique: str
) -> None:
    name = f"notes-{unique}.png"
    data = b"these are meeting notes, not a picture\n" * 10
    app.host.upload_blob(f"images/{name}", data)
    job_id = upload_job_id(f"images/{name}", data)
    # Five tries (a second apart in these settings), then webjobs-blobtrigger-poison, whose
    # function fails the job with the last try's reason.
    app.host.wait_for("thumbnail_poison", where=lambda r: logged(r, job_id), timeout=60)
    final = app.status(job_id)
    assert final["status"] == "Failed", final
    assert f"images/{name} was given up (poison): not an image" in final["error"]
    tries = [r for r in app.host.invocations("thumbnail_on_upload") if not r.ok and logged(r, name)]
    assert len(tries) == 5
    assert thumbnail(app, name) is None


def test_an_api_job_on_a_file_that_is_not_an_image_fails_and_a_replay_succeeds(
    app: JobsApp, unique: str
) -> None:
    from functions.services import services
    from shared.deadletters import StoragePoisonQueue

    name = f"replay-{unique}.jpg"
    app.host.upload_blob(f"images/{name}", b"\x00\x01 not a jpeg", scan=False)
    job_id = app.start("thumbnail", {"blob": f"images/{name}"})
    failed = app.wait(job_id, timeout=60)
    assert failed["status"] == "Failed", failed
    assert "not an image" in failed["error"] and failed["attempt"] == 1, failed

    poison = StoragePoisonQueue.for_queue(
        services().account, "jobs-normal", statuses=services().status
    )

    async def letters() -> list[Any]:
        return [letter for letter in await poison.list() if letter.job_id == job_id]

    [letter] = eventually(lambda: app.run(letters), f"job {job_id}'s ticket on jobs-normal-poison")
    assert letter.reason == failed["error"]
    # Fix the file, then replay the ticket: the same job runs again.
    app.host.upload_blob(f"images/{name}", image((800, 600), "JPEG"), scan=False)

    async def replay() -> list[Any]:
        return await poison.replay(letter.message_id)

    [replayed] = app.run(replay)
    assert (replayed.job_id, replayed.job_state) == (job_id, "Pending")
    app.host.wake("jobs-normal")
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert final["attempt"] == 2 and "error" not in final
    made = thumbnail(app, name)
    assert made is not None and made.format == "JPEG" and made.size == (256, 192)


def test_a_ticket_replayed_as_funchost_poison_does_runs_the_failed_job_again(
    app: JobsApp, unique: str
) -> None:
    # `funchost poison replay` and the dashboard send the stored body back as it is, without
    # touching the job's record: the dispatcher takes a new ticket for a Failed job as a replay.
    from azure.storage.queue.aio import QueueServiceClient

    from funchost.ops.storage_poison import StoragePoison

    name = f"cli-replay-{unique}.png"
    app.host.upload_blob(f"images/{name}", b"not a png either", scan=False)
    job_id = app.start("thumbnail", {"blob": f"images/{name}"})
    assert app.wait(job_id, timeout=60)["status"] == "Failed"
    app.host.upload_blob(f"images/{name}", image((300, 600), "PNG"), scan=False)

    async def replay() -> list[Any]:
        connection = app.host.environ["AzureWebJobsStorage"]
        async with QueueServiceClient.from_connection_string(connection) as service:
            poison = StoragePoison(service, "jobs-normal-poison", "jobs-normal", "base64")
            mine = [letter for letter in await poison.list() if letter.job_id == job_id]
            return await poison.replay(mine[0].message_id) if mine else []

    eventually(lambda: app.run(replay), f"job {job_id}'s ticket replayed from jobs-normal-poison")
    app.host.wake("jobs-normal")
    # The record says Failed until the dispatcher takes the ticket: wait for the second
    # attempt to end, not for any final state.
    final = app.wait(job_id, lambda s: s["attempt"] == 2 and s["status"] in FINAL)
    assert final["status"] == "Succeeded", final
    made = thumbnail(app, name)
    assert made is not None and made.format == "PNG" and made.size == (128, 256)
