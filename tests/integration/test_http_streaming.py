"""HTTP streaming (azurefunctions-extensions-http-fastapi): the real host's HTTP proxy mode,
in process (H `Grpc/Server/DefaultHttpProxyService.cs`; PW `http_v2.py`, `dispatcher.py`).

The function gets the live FastAPI `Request` and its `StreamingResponse` reaches the client
as it is produced. Gates in the app make the order of events certain: a stream holds after
its first chunk until the client opens its gate, and the client can ask how much of an
upload the function has read before it sends more.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funchost.testing import Harness
from tests.integration.harness_support import invocation, wait_until

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "http_streaming"
SETTINGS = {"PYTHON_ENABLE_INIT_INDEXING": "1", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}


@pytest.fixture(scope="module")
def host() -> Iterator[Harness]:
    with Harness(APP, settings=SETTINGS) as harness:
        yield harness


def test_streaming_functions_load_and_answer(host: Harness) -> None:
    assert host.host is not None and host.host.errors() == []
    r = httpx.get(f"{host.url}/api/values/ada", params={"q": "1"})
    # Anything but a Response is serialized by FastAPI, as the worker's catch-all route does.
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"name": "ada", "q": "1", "url": f"{host.url}/api/values/ada?q=1"}


def test_the_first_chunk_arrives_before_the_last_is_produced(host: Harness) -> None:
    with httpx.stream("GET", f"{host.url}/api/stream/one", params={"count": "3"}) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        # The function holds at its gate after this chunk: it came as it was produced.
        assert next(lines) == "first of one"
        assert httpx.post(f"{host.url}/api/open/one").json() == {"opened": "one"}
        assert list(lines) == ["chunk 1 of one", "chunk 2 of one"]
    record = host.wait_for("stream", 1)[0]
    assert record.ok


def test_two_streams_run_concurrently(host: Harness) -> None:
    with (
        httpx.stream("GET", f"{host.url}/api/stream/a") as a,
        httpx.stream("GET", f"{host.url}/api/stream/b") as b,
    ):
        a_lines, b_lines = a.iter_lines(), b.iter_lines()
        assert next(a_lines) == "first of a" and next(b_lines) == "first of b"
        # b finishes while a is still held open at its gate.
        httpx.post(f"{host.url}/api/open/b")
        assert list(b_lines) == ["chunk 1 of b", "chunk 2 of b"]
        httpx.post(f"{host.url}/api/open/a")
        assert list(a_lines) == ["chunk 1 of a", "chunk 2 of a"]


def test_the_request_body_streams_into_the_function(host: Harness) -> None:
    parts = [b"x" * 1000, b"y" * 2000, b"z" * 3000]

    def body() -> Iterator[bytes]:
        sent = 0
        for part in parts:
            if sent:
                # The function has read everything sent so far before the next part leaves.
                seen = httpx.get(f"{host.url}/api/seen/up/{sent}", timeout=15)
                assert seen.status_code == 200, seen.text
            yield part
            sent += len(part)

    r = httpx.post(f"{host.url}/api/upload/up", content=body(), timeout=30)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["bytes"] == 6000 and result["chunks"] >= 3
    # The host adds the invocation id to the forwarded request (H DefaultHttpProxyService).
    record = invocation(host, result["invocation"])
    assert record.function == "upload" and record.ok


def test_returning_none_answers_500_and_the_invocation_succeeds(host: Harness) -> None:
    # The worker runs the function successfully, then finds no response to send
    # (PW http_v2.py HttpCoordinator._pop_http_response raises): 500 from its web app.
    before = len(host.invocations("nothing"))
    r = httpx.get(f"{host.url}/api/nothing")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert host.wait_for("nothing", before + 1)[before].ok
    assert any("returned None" in line for line in host.logs)


def test_an_exception_is_a_500_from_fastapi_and_a_failed_invocation(host: Harness) -> None:
    r = httpx.get(f"{host.url}/api/boom")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    record = host.wait_for("boom", 1)[0]
    assert not record.ok and str(record.error) == "boom while streaming"
    # An HTTPException is FastAPI's to answer, as in the worker's web app.
    r = httpx.get(f"{host.url}/api/teapot")
    assert r.status_code == 418 and r.json() == {"detail": "short and stout"}


def test_a_stream_that_breaks_cuts_the_response_and_is_logged(host: Harness) -> None:
    with httpx.stream("GET", f"{host.url}/api/broken/x") as r:
        lines = r.iter_lines()
        assert next(lines) == "a good start"
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    host.wait_for_log(
        r"The streamed response of 'Functions.broken' \(Id=.*\) failed: "
        r"RuntimeError: the generator broke"
    )


def test_the_host_stops_after_a_running_stream_is_sent() -> None:
    harness = Harness(APP, settings=SETTINGS, grace=10)
    harness.start()
    try:
        with httpx.stream("GET", f"{harness.url}/api/slow") as r:
            lines = r.iter_lines()
            assert next(lines) == "slow 0"
            stopping = threading.Thread(target=harness.stop)
            stopping.start()
            # The drain waits for the response the function already returned.
            assert list(lines) == ["slow 1", "slow 2", "slow 3"]
        stopping.join(30)
        assert not stopping.is_alive()
    finally:
        harness.stop()


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the setting is not needed from 3.13")
def test_without_init_indexing_streaming_functions_are_in_error() -> None:
    # Empty, not left out: the module's host has put the setting in this process.
    settings = {**SETTINGS, "PYTHON_ENABLE_INIT_INDEXING": ""}
    with Harness(APP, settings=settings) as harness:
        assert harness.host is not None
        errors = harness.host.errors()
        assert any(
            "function 'stream'" in e and "PYTHON_ENABLE_INIT_INDEXING=1" in e for e in errors
        ), errors
        assert httpx.get(f"{harness.url}/api/values/x").status_code == 404


def test_an_app_mixing_both_kinds_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "from azurefunctions.extensions.http.fastapi import Request\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='classic')\n"
        "def classic(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('ok')\n"
        "@app.route(route='streamed')\n"
        "async def streamed(req: Request) -> dict:\n"
        "    return {}\n"
    )
    with Harness(tmp_path, settings=SETTINGS) as harness:
        harness.wait_for_log(r"Function 'classic' takes func.HttpRequest .* fails to load")


def test_limits_hold_for_streamed_exchanges() -> None:
    settings = {
        **SETTINGS,
        "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "100",
        "AzureFunctionsJobHost__extensions__http__maxOutstandingRequests": "1",
    }
    with Harness(APP, settings=settings) as harness:
        # A declared length over the limit: 413 before the function runs.
        r = httpx.post(f"{harness.url}/api/upload/big", content=b"x" * 1000)
        assert r.status_code == 413
        assert harness.invocations("upload") == []
        # A streamed body fails the read that takes it over the limit.
        r = httpx.post(f"{harness.url}/api/upload/big", content=iter([b"x" * 60, b"y" * 60]))
        assert r.status_code == 500
        record = harness.wait_for("upload", 1)[0]
        assert not record.ok and type(record.error).__name__ == "BodyTooLarge"
        # A running stream holds its throttle slot (H HttpThrottleMiddleware wraps it all)
        # until its response ends, here as the client goes away.
        with httpx.stream("GET", f"{harness.url}/api/stream/held") as held:
            lines = held.iter_lines()
            assert next(lines) == "first of held"
            assert httpx.get(f"{harness.url}/api/values/x").status_code == 429
        # Nothing announces the end of the cut exchange: ask until the slot is free.
        wait_until(
            lambda: httpx.get(f"{harness.url}/api/values/x").status_code == 200,
            "the throttle slot of the closed stream",
        )


def test_a_function_returning_a_fastapi_response_must_take_its_request(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "from azurefunctions.extensions.http.fastapi import StreamingResponse\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='odd')\n"
        "def odd(req: func.HttpRequest) -> StreamingResponse:\n"
        "    return StreamingResponse(iter(['x']))\n"
    )
    with Harness(tmp_path, settings=SETTINGS) as harness:
        assert harness.host is not None
        (error,) = harness.host.errors()
        assert error.startswith("function 'odd': it returns a FastAPI response")
