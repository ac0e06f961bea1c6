"""The README's dashboard screenshot (docs/dashboard.png), from the jobs app as a user runs
it: after `make run` and `make sample-data`, submit a few jobs, sign in to
/admin/dashboard in Debian's chromium (Playwright, told the browser's path) and take the
picture when a batch job is seen part-way (else after 30 s).

    PYTHONPATH=. .venv/bin/python scripts/dashboard_screenshot.py [--port 7071] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

JOBS: list[dict[str, Any]] = [
    {
        "kind": "order",
        "input": {"customer": "c-1", "items": [{"sku": "SKU-1", "qty": 2}], "amount": 19.9},
    },
    {"kind": "thumbnail", "input": {"blob": "images/photo.png"}},
    {"kind": "report", "input": {"day": "2026-11-29"}},
    {"kind": "batch", "input": {"blob": "batch-input/sales.csv", "parts": 8}, "priority": "high"},
]


def _keys() -> dict[str, Any]:
    funchost = Path(sys.executable).with_name("funchost")
    done = subprocess.run(
        [str(funchost), "keys", "--json"], capture_output=True, text=True, check=True
    )
    keys: dict[str, Any] = json.loads(done.stdout)
    return keys


def _submit(base: str, key: str, job: dict[str, Any]) -> str:
    request = urllib.request.Request(
        f"{base}/api/jobs",
        data=json.dumps(job).encode(),
        method="POST",
        headers={"x-functions-key": key, "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (make setup installs it)")
    from playwright.sync_api import expect, sync_playwright

    base = f"http://127.0.0.1:{args.port}"
    keys = _keys()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1500})
        page.goto(f"{base}/admin/dashboard")
        page.get_by_label("Master key").fill(keys["masterKey"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        batch = ""
        for job in JOBS:
            batch = _submit(base, keys["functionKeys"]["default"], job)
        bar = page.get_by_label(f"Progress of job {batch}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # part-way: the picture shows a bar moving
            value = int(bar.get_attribute("value") or 0) if bar.count() else 0
            if 0 < value < 100:
                break
            time.sleep(0.1)
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
