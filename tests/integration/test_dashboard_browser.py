"""The dashboard in a real headless browser: Debian's chromium driven by Playwright (told the
browser's path; nothing downloaded). Signing in with the master key (a wrong key refused,
the key in no address and the session cookie out of the page's reach), a job's progress
bar moving while it runs, a poison message replayed with a confirmation (its job then
succeeds on attempt 2), a dead-lettered Service Bus message listed, a function run now,
and a screenshot that is not blank. The app is tests/apps/dashboard_app.

`FUNCHOST_SCREENSHOT=path` also saves the screenshot there (the README's picture is of the
jobs app instead: scripts/dashboard_screenshot.py).
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from funchost.testing import Harness
from shared.status import JobState, StatusStore
from tests.conftest import unavailable
from tests.integration.dashboard_support import MASTER, dashboard_host

__all__ = ["dashboard_host"]  # the fixture, used by name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s")


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (make setup installs it: apt-get install chromium)")
    assert path is not None
    return path


def _not_blank(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    return len(colors)


def test_sign_in_watch_a_job_replay_a_poison_message(
    dashboard_host: tuple[Harness, StatusStore, dict[str, str]], chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    host, store, names = dashboard_host
    # A job whose first attempt fails into the poison queue, and a dead-lettered message.
    flaky = host.run(store.create, "flaky")
    host.send_queue(names["DASH_FLAKY"], {"jobId": flaky.job_id})
    eventually(lambda: host.run(store.get, flaky.job_id).state is JobState.FAILED)
    host.send_servicebus("dashboard-dlq", {"order": 7})
    host.wait_for("bus_worker")

    assert host.host is not None
    base = f"http://127.0.0.1:{host.host.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{base}/admin/dashboard")

            # Sign in: the labelled field, a wrong key refused, then the master key.
            key = page.get_by_label("Master key")
            expect(key).to_be_focused()
            key.fill("not-the-key")
            key.press("Enter")
            expect(page.get_by_role("alert")).to_contain_text("not the master key")
            page.get_by_label("Master key").fill(MASTER)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Functions")).to_be_visible()
            assert "code=" not in page.url and MASTER not in page.url
            (cookie,) = [c for c in page.context.cookies() if c["name"] == "funchost_dashboard"]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert MASTER not in cookie["value"]
            expect(page.locator("#functions")).to_contain_text("slow_job")
            expect(page.locator("#timers")).to_contain_text("nightly")
            expect(page.locator("#timers")).to_contain_text("this instance")

            # A job's progress bar moves while it runs (live, no reload).
            job = host.run(store.create, "slow")
            host.send_queue(names["DASH_JOBS"], {"jobId": job.job_id})
            bar = page.get_by_label(f"Progress of job {job.job_id}")
            seen: set[int] = set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and 100 not in seen:
                if bar.count():
                    seen.add(int(bar.get_attribute("value") or 0))
                time.sleep(0.1)
            moving = sorted(v for v in seen if 0 < v < 100)
            assert len(moving) >= 2 and 100 in seen, f"progress values seen: {sorted(seen)}"
            row = page.locator(f'tr[data-job="{job.job_id}"]')
            expect(row).to_contain_text("Succeeded")

            # The dead-lettered Service Bus message and the poison message are listed.
            queues = page.locator("#queues")
            expect(queues).to_contain_text("dashboard-dlq/$DeadLetterQueue")
            expect(queues).to_contain_text(flaky.job_id)
            replay = page.get_by_role(
                "button", name=f"Replay message {_poisoned_id(page, flaky.job_id)}"
            )
            dialogs: list[str] = []

            def accept(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.accept()

            page.once("dialog", accept)
            replay.focus()
            page.keyboard.press("Enter")  # the keyboard reaches every action
            expect(page.get_by_role("status")).to_contain_text("Replayed 1 message(s)")
            assert dialogs and "Replay message" in dialogs[0]
            eventually(lambda: host.run(store.get, flaky.job_id).state is JobState.SUCCEEDED)
            expect(page.locator(f'tr[data-job="{flaky.job_id}"]')).to_contain_text("Succeeded")
            expect(queues).not_to_contain_text(flaky.job_id)

            # Run a function now (after a confirmation): its run appears in its row.
            page.once("dialog", accept)
            page.get_by_role("button", name="Run nightly now").click()
            expect(page.get_by_role("status")).to_contain_text("nightly started")
            assert dialogs[-1] == "Run nightly now?"
            nightly = page.locator("#functions tr", has_text="nightly")
            expect(nightly).to_contain_text("Succeeded")

            shot = page.screenshot(full_page=True)
            assert _not_blank(shot) > 50, "the screenshot is (nearly) one colour"
            (tmp_path / "dashboard.png").write_bytes(shot)
            if os.environ.get("FUNCHOST_SCREENSHOT"):
                Path(os.environ["FUNCHOST_SCREENSHOT"]).write_bytes(shot)
        finally:
            browser.close()
    assert host.run(store.get, flaky.job_id).attempt == 2


def _poisoned_id(page: Any, job_id: str) -> str:
    row = page.locator("tr[data-message]", has_text=job_id).first
    row.wait_for()
    return str(row.get_attribute("data-message"))
