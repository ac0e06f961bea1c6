"""HTTP trigger over real HTTP (semantics §6).

The app runs on the in-process test harness (`funchost.testing`), which serves it on a
real socket exactly as `funchost start` does; what only the process shows, the console
output in the shape of `func start` and the stop on a signal, is tested on a real
`funchost start` process at the end.
"""

from __future__ import annotations

import concurrent.futures
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funchost.testing import Harness, InvocationRecord
from tests.integration.harness_support import CliHost, invocation

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "http_basic"
SETTINGS = {"AzureWebJobs.off.Disabled": "true"}
PROGRAMMATIC = "This function was programmatically called via the host APIs."


@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[Harness]:
    harness = Harness(APP, settings={**SETTINGS, "AzureWebJobsStorage": storage_connection_string})
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def next_invocation(host: Harness, function: str, before: int) -> InvocationRecord:
    """The invocation of `function` that follows the `before` ones already recorded."""
    return host.wait_for(function, before + 1)[before]


def test_get_with_query_and_user_logs_each_on_own_line(host: Harness) -> None:
    before = len(host.invocations("hello"))
    r = host.get("/api/hello", params={"name": "ada"})
    assert r.status_code == 200 and r.text == "hello ada"
    assert r.headers["content-type"].startswith("text/plain")
    record = next_invocation(host, "hello", before)
    inv = record.invocation_id
    assert record.ok and re.fullmatch(r"[0-9a-f-]{36}", inv)
    assert record.reason == PROGRAMMATIC
    # Executing, each user line on its own line in the order logged, Executed.
    assert record.logs[0] == f"Executing 'Functions.hello' (Reason='{PROGRAMMATIC}', Id={inv})"
    assert record.logs[1:-1] == ("saying hello to ada", "second line from user code")
    assert re.fullmatch(
        rf"Executed 'Functions.hello' \(Succeeded, Id={inv}, Duration=\d+ms\)", record.logs[-1]
    )


def test_route_template_optional_int_parameter(host: Harness) -> None:
    r = host.get("/api/items/42", params={"a": "1", "empty": ""}, headers={"X-Custom": "v"})
    assert r.status_code == 201
    body = r.json()
    assert body["route"] == {"id": "42"}
    # Empty query values are dropped, as the real host drops them (semantics §6.2).
    assert body["query"] == {"a": "1"}
    assert body["header"] == "v"
    assert body["method"] == "GET" and body["json"] is None
    assert body["url"] == f"{host.url}/api/items/42?a=1&empty="
    assert host.get("/api/items").json()["route"] == {}


def test_route_constraint_rejects_non_int_with_404(host: Harness) -> None:
    r = host.get("/api/items/abc")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_literal_route_beats_parameter_route(host: Harness) -> None:
    assert host.get("/api/items/special").text == "literal route wins"


def test_catch_all_route(host: Harness) -> None:
    assert host.get("/api/files/a/b/c.txt").text == "a/b/c.txt"
    assert host.get("/api/files").text == "<none>"


def test_post_json_body(host: Harness) -> None:
    r = host.post("/api/items/7", json={"k": [1, 2]})
    assert r.status_code == 201 and r.json()["json"] == {"k": [1, 2]}
    assert r.json()["method"] == "POST"


def test_known_route_other_method_is_405_with_allow(host: Harness) -> None:
    r = host.request("DELETE", "/api/hello")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["status"] == 405


def test_unknown_route_is_404_json(host: Harness) -> None:
    r = host.get("/api/nope")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"


def test_binary_body_round_trips(host: Harness) -> None:
    data = bytes(range(256)) * 4
    r = host.post(
        "/api/echo/binary", content=data, headers={"content-type": "application/octet-stream"}
    )
    assert r.status_code == 200
    assert r.content == data[::-1]
    assert r.headers["x-length"] == str(len(data))
    assert r.headers["content-type"] == "application/octet-stream"


def test_cookies_and_redirect(host: Harness) -> None:
    r = host.get("/api/cookies")
    # As the real host writes it (test_http_fidelity has the details).
    assert r.headers["set-cookie"] == "session=abc; domain=; path=/; httponly"
    r = host.get("/api/redirect")  # not followed
    assert r.status_code == 302 and r.headers["location"] == "/api/hello"


def test_user_exception_is_500_with_invocation_id_and_host_keeps_serving(
    host: Harness,
) -> None:
    r = host.get("/api/fail")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    inv = r.json()["invocationId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", inv)
    record = invocation(host, inv)
    assert record.function == "fail" and not record.ok
    assert isinstance(record.error, ValueError) and str(record.error) == "boom from user code"
    executed, *failure = record.logs[-1].splitlines()
    assert executed.startswith(f"Executed 'Functions.fail' (Failed, Id={inv}")
    # The worker's serialized exception as the host prints it (see test_fidelity_logs.py).
    assert failure[:2] == [
        "System.Private.CoreLib: Exception while executing function: Functions.fail. "
        "System.Private.CoreLib: Result: Failure",
        "Exception: ValueError: boom from user code",
    ]
    assert host.get("/api/hello").status_code == 200


def test_function_timeout_fails_the_invocation(host: Harness) -> None:
    # host.json sets functionTimeout to 2 s.
    r = host.get("/api/slow", params={"s": "10"})
    assert r.status_code == 500
    record = invocation(host, r.json()["invocationId"])
    assert record.function == "slow" and type(record.error).__name__ == "FunctionTimeoutError"
    assert any(
        line.startswith("Timeout value of 00:00:02 exceeded by function 'Functions.slow'")
        for line in record.logs
    )


def test_context_has_invocation_id_and_name(host: Harness) -> None:
    body = host.get("/api/ctx").json()
    assert body["function_name"] == "ctx"
    record = invocation(host, body["invocation_id"])
    assert record.function == "ctx" and record.ok
    assert record.logs[-1].startswith(
        f"Executed 'Functions.ctx' (Succeeded, Id={body['invocation_id']}"
    )


def test_string_return_and_none_return(host: Harness) -> None:
    r = host.get("/api/text")
    assert r.text == "plain string return"
    # None cannot be encoded by the library's http converter: the invocation fails, as on
    # Azure (test_http_fidelity has the details).
    assert host.get("/api/nothing").status_code == 500


def test_function_name_decorator_names_the_function(host: Harness) -> None:
    before = len(host.invocations("renamed"))
    assert host.get("/api/named/bob").text == "bob"
    assert next_invocation(host, "renamed", before).ok


def test_disabled_function_is_404(host: Harness) -> None:
    assert host.get("/api/off").status_code == 404
    assert host.invocations("off") == []


def test_sync_functions_run_in_parallel_threads(host: Harness) -> None:
    # `sync-together` returns only once four calls wait in it at once (a barrier), so four
    # answers prove four sync invocations ran at the same time, each on its own thread.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: host.get("/api/sync-together", timeout=60), range(4)))
    assert [r.status_code for r in answers] == [200] * 4
    threads = {r.text for r in answers}
    assert len(threads) == 4 and all(t.startswith("funchost-worker") for t in threads)


def test_root_answers_200(host: Harness) -> None:
    r = host.get("/")
    assert r.status_code == 200 and "up and running" in r.text


def test_admin_status_ping_and_functions_without_auth(host: Harness) -> None:
    status = host.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert re.fullmatch(r"[a-z0-9-]{1,32}", status["id"]) and status["id"] == host.host.host_id
    assert host.get("/admin/host/ping").status_code == 200
    assert host.post("/admin/host/ping").status_code == 200
    names = {f["name"] for f in host.get("/admin/functions").json()}
    assert {"hello", "items", "renamed"} <= names
    one = host.get("/admin/functions/hello").json()
    assert one["invoke_url_template"] == f"{host.url}/api/hello"
    assert one["config"]["bindings"][0]["type"] == "httpTrigger"


def test_admin_invoke_rejects_bad_bodies(host: Harness) -> None:
    r = host.post("/admin/functions/hello", content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    assert host.post("/admin/functions/hello", json=None).status_code == 400
    assert host.post("/admin/functions/nope", json={"input": "x"}).status_code == 404
    # An HTTP function is called at its URL, not through the admin API.
    assert host.post("/admin/functions/hello", json={"input": "x"}).status_code == 400


# -- `funchost start` as a process: its console and its signals -----------------------------


@pytest.fixture
def cli_env(storage_connection_string: str) -> dict[str, str]:
    return {**SETTINGS, "AzureWebJobsStorage": storage_connection_string}


def test_console_lists_functions_and_logs_like_func_start(cli_env: dict[str, str]) -> None:
    proc = CliHost("http_basic", env=cli_env, args=["--no-auth"])
    proc.start()
    try:
        out = proc.output()
        base = f"http://localhost:{proc.port}"
        assert "Functions:" in out
        assert f"hello: [GET] {base}/api/hello" in out
        assert f"items: [GET,POST] {base}/api/items/{{id:int?}}" in out
        assert f"files: [*] {base}/api/files/{{*rest}}" in out
        assert f"off: [*] {base}/api/off (disabled)" in out
        assert re.search(
            rf"Host started in \d+ms on {base} \(host id [a-z0-9-]+; keys not enforced\)\.", out
        )

        r = httpx.get(f"{proc.url}/api/hello", params={"name": "ada"}, timeout=30)
        assert r.text == "hello ada"
        stamp = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]"
        m = proc.wait_for_output(
            rf"{stamp} Executing 'Functions.hello' \(Reason='{re.escape(PROGRAMMATIC)}', "
            r"Id=([0-9a-f-]{36})\)",
            timeout=30,
        )
        assert m is not None
        assert proc.wait_for_output(
            rf"{stamp} Executed 'Functions.hello' \(Succeeded, Id={m.group(1)}, "
            r"Duration=\d+ms\)",
            timeout=30,
        )
        lines = proc.output().splitlines()
        assert any(re.fullmatch(rf"{stamp} saying hello to ada", line) for line in lines)
        # A user's warning is printed as its message alone, as the real host prints a
        # worker's log line whatever its level (see test_fidelity_logs.py).
        assert any(re.fullmatch(rf"{stamp} second line from user code", line) for line in lines)
    finally:
        proc.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_running_invocations_then_exits_0(
    cli_env: dict[str, str], sig: signal.Signals, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    proc = CliHost("http_basic", env=cli_env, args=["--no-auth"])
    proc.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            # `hold` runs until the file `release` exists.
            pending = pool.submit(
                httpx.get, f"{proc.url}/api/hold", params={"until": str(release)}, timeout=60
            )
            assert proc.wait_for_output(r"Executing 'Functions.hold'", timeout=30)
            proc.send_signal(sig)
            assert proc.wait_for_output(
                r"Stopping the host: waiting up to 30s for 1 running invocation\(s\)", timeout=30
            )
            assert "Stopping (Ctrl-C again to stop at once)..." in proc.output()
            assert proc.returncode is None  # draining
            release.touch()
            assert proc.wait(30) == 0
            r = pending.result()
        assert r.status_code == 200 and r.text == "released"  # the running one finished
        assert "Executed 'Functions.hold' (Succeeded" in proc.output()
    finally:
        proc.stop()


def test_a_second_signal_stops_at_once(cli_env: dict[str, str], tmp_path: Path) -> None:
    # No function timeout and a minute of grace: only the second signal can end the held
    # invocation (never released) within the wait below.
    env = {**cli_env, "AzureFunctionsJobHost__functionTimeout": "-1"}
    proc = CliHost("http_basic", env=env, args=["--no-auth", "--grace", "60"])
    proc.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                httpx.get,
                f"{proc.url}/api/hold",
                params={"until": str(tmp_path / "never")},
                timeout=60,
            )
            assert proc.wait_for_output(r"Executing 'Functions.hold'", timeout=30)
            proc.send_signal(signal.SIGINT)
            assert proc.wait_for_output(r"Stopping the host: waiting up to 60s", timeout=30)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
            r = pending.result()
        assert r.status_code == 500  # cut short
        assert "Executed 'Functions.hold' (Succeeded" not in proc.output()
    finally:
        proc.stop()
