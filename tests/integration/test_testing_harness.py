"""funchost.testing: the in-process host the project's tests and users' tests run on."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from funchost.errors import AppLoadError
from funchost.testing import Harness
from funchost.testing.plugin import HostFactory

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "harness_app"


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"HARNESS_Q": f"hq{tag}", "HARNESS_C": f"hc{tag}", "HARNESS_WHO": f"who{tag}"}


def test_drives_every_trigger_and_records_outcomes_and_logs(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    host = funchost.start(APP, settings=names)
    # HTTP: keys are not enforced by default (as func start); settings reach os.environ.
    response = host.get("/api/hello/ann")
    assert (response.status_code, response.text) == (200, f"hello ann from {names['HARNESS_WHO']}")
    # Queue, through two hops (the output wakes the second listener in this host).
    host.send_queue(names["HARNESS_Q"], "abc")
    (second,) = host.wait_for("on_queue_out")
    assert "SECOND HOP ABC" in second.logs
    # A blob upload is swept at once.
    host.upload_blob(f"{names['HARNESS_C']}/pic.png", b"12345")
    (blob,) = host.wait_for("on_blob")
    assert f"BLOB {names['HARNESS_C']}/pic.png 5" in blob.logs
    # A timer fired now, and a Service Bus message.
    assert host.fire_timer("yearly").ok
    host.send_servicebus("funchost-queue", "sb body", message_id="m-1")
    (sb,) = host.wait_for("on_servicebus")
    assert "SB sb body m-1" in sb.logs
    host.wait_idle()
    functions = [r.function for r in host.invocations()]
    assert sorted(functions) == sorted(
        ["hello", "on_queue", "on_queue_out", "on_blob", "yearly", "on_servicebus"]
    )
    first = host.invocations("on_queue")[0]
    assert first.ok and first.logs[0].startswith("Executing 'Functions.on_queue' (Reason='New ")
    assert first.logs[-1].startswith(f"Executed 'Functions.on_queue' (Succeeded, Id={first.invocation_id}")


def test_failures_are_recorded_with_their_exception_and_retried_by_redelivery(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    host = funchost.start(
        APP,
        settings={**names, "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2"},
    )
    host.send_queue(names["HARNESS_Q"], "fail")
    records = host.wait_for("on_queue", 2, ok=False)
    assert [type(r.error).__name__ for r in records] == ["ValueError", "ValueError"]
    host.wait_idle()  # the poison move done: nothing visible remains
    assert any(f"moved to '{names['HARNESS_Q']}-poison'" in line for line in host.logs)
    with pytest.raises(AssertionError, match="'on_queue' finished 0 matching time"):
        host.wait_for("on_queue", ok=True, timeout=0.2)


def test_keys_can_be_enforced(funchost: HostFactory, names: dict[str, str]) -> None:
    host = funchost.start(APP, settings=names, auth=True)
    assert host.get("/api/hello/x").status_code == 401


def test_stop_restores_the_environment_and_forgets_the_app_modules(
    azurite: object, names: dict[str, str], storage_connection_string: str
) -> None:
    assert "HARNESS_WHO" not in os.environ
    settings = {**names, "AzureWebJobsStorage": storage_connection_string}
    with Harness(APP, settings=settings, functions=("hello",)) as host:
        assert os.environ["HARNESS_WHO"] == names["HARNESS_WHO"]
        assert [s.name for s in host.app.functions] == ["hello"]
        assert host.get("/api/hello/y").status_code == 200
    assert "HARNESS_WHO" not in os.environ
    assert not any(getattr(m, "__file__", "") == str(APP / "function_app.py")
                   for m in list(sys.modules.values()))


def test_an_app_that_cannot_import_raises_the_load_error(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\nboom(\n")
    with pytest.raises(AppLoadError, match="function_app.py:2: cannot import the app"):
        Harness(tmp_path).start()
    assert "AzureWebJobsStorage" not in os.environ or True
