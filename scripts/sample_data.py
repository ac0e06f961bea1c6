"""Sample inputs for trying the jobs app (`make sample-data`, after `make run`):

- ``batch-input/sales.csv``: a header ``id,amount`` and 50,000 rows (the expected row count
  and total are printed, to compare with the job's result);
- ``images/photo.png``: a 1600x1000 image (its upload starts a thumbnail job by itself);
- ``images/not-an-image.png``: text, to see a job go to the poison queue and fail.

Uploads to the account in `AzureWebJobsStorage` (local.settings.json; Azurite by default).
"""

from __future__ import annotations

import io
import json
import os
import random
from decimal import Decimal
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContentSettings
from PIL import Image, ImageDraw

from shared.storage import expand_development_storage

ROWS = 50_000


def _connection() -> str:
    value = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 - the setting's own name
    settings = Path("local.settings.json")
    if not value and settings.exists():
        value = json.loads(settings.read_text())["Values"].get("AzureWebJobsStorage")
    return expand_development_storage(value or "UseDevelopmentStorage=true")


def _csv() -> tuple[bytes, Decimal]:
    rng = random.Random(42)  # the same file every time
    total = Decimal(0)
    lines = ["id,amount"]
    for i in range(1, ROWS + 1):
        amount = Decimal(rng.randint(1, 99_999)) / 100
        total += amount
        lines.append(f"{i},{amount}")
    return ("\n".join(lines) + "\n").encode(), total


def _image() -> bytes:
    image = Image.new("RGB", (1600, 1000), (34, 90, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, 1600, 100):
        draw.ellipse((x, 300, x + 90, 390), fill=(240, 200, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def main() -> None:
    service = BlobServiceClient.from_connection_string(_connection())
    for container in ("batch-input", "images"):
        if not service.get_container_client(container).exists():
            service.create_container(container)
    data, total = _csv()
    service.get_blob_client("batch-input", "sales.csv").upload_blob(data, overwrite=True)
    print(f"batch-input/sales.csv: {ROWS} rows, total {total}")
    png = ContentSettings("image/png")
    photo = service.get_blob_client("images", "photo.png")
    photo.upload_blob(_image(), overwrite=True, content_settings=png)
    print("images/photo.png: 1600x1000 (its thumbnail appears in thumbnails/photo.png)")
    junk = service.get_blob_client("images", "not-an-image.png")
    junk.upload_blob(b"this is text", overwrite=True, content_settings=png)
    print("images/not-an-image.png: not an image (its job fails after 5 tries)")


if __name__ == "__main__":
    main()
