"""HTTP trigger over real HTTP against a `funchost start` process (semantics §6)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.hostprocess import HostProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[HostProcess]:
    proc = HostProcess("http_basic", env={"AzureWebJobsStorage": storage_connection_string,
                                          "AzureWebJobs.off.Disabled": "true"},
                       args=["--no-auth"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(host: HostProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=10, follow_redirects=False) as c:
        yield c


def test_startup_lists_each_function_with_methods_and_url(host: HostProcess) -> None:
    out = host.output()
    assert "Functions:" in out
    assert f"hello: [GET] http://localhost:{host.port}/api/hello" in out
    assert f"items: [GET,POST] http://localhost:{host.port}/api/items/{{id:int?}}" in out
    assert f"files: [*] http://localhost:{host.port}/api/files/{{*rest}}" in out
    assert "off: [*]" in out and "(disabled)" in out


def test_get_with_query_and_user_logs_each_on_own_line(host: HostProcess,
                                                        client: httpx.Client) -> None:
    r = client.get("/api/hello", params={"name": "ada"})
    assert r.status_code == 200 and r.text == "hello ada"
    assert r.headers["content-type"].startswith("text/plain")
    m = host.wait_for_output(
        r"Executing 'Functions.hello' \(Reason='This function was programmatically called via "
        r"the host APIs.', Id=([0-9a-f-]{36})\)")
    assert m is not None
    inv = m.group(1)
    done = host.wait_for_output(rf"Executed 'Functions.hello' \(Succeeded, Id={inv}, "
                                r"Duration=\d+ms\)")
    assert done is not None
    lines = host.output().splitlines()
    assert any(re.fullmatch(r"\[.+Z\] saying hello to ada", line) for line in lines)
    assert any(line.endswith("] Warning: second line from user code") for line in lines)


def test_route_template_optional_int_parameter(client: httpx.Client) -> None:
    r = client.get("/api/items/42", params={"a": "1", "empty": ""}, headers={"X-Custom": "v"})
    assert r.status_code == 201
    body = r.json()
    assert body["route"] == {"id": "42"}
    # Empty query values are dropped, as the real host drops them (semantics §6.2).
    assert body["query"] == {"a": "1"}
    assert body["header"] == "v"
    assert body["url"].startswith("http://127.0.0.1:") and "/api/items/42?" in body["url"]
    assert client.get("/api/items").json()["route"] == {}


def test_route_constraint_rejects_non_int_with_404(client: httpx.Client) -> None:
    r = client.get("/api/items/abc")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_literal_route_beats_parameter_route(client: httpx.Client) -> None:
    assert client.get("/api/items/special").text == "literal route wins"


def test_catch_all_route(client: httpx.Client) -> None:
    assert client.get("/api/files/a/b/c.txt").text == "a/b/c.txt"
    assert client.get("/api/files").text == "<none>"


def test_post_json_body(client: httpx.Client) -> None:
    r = client.post("/api/items/7", json={"k": [1, 2]})
    assert r.status_code == 201 and r.json()["json"] == {"k": [1, 2]}
    assert r.json()["method"] == "POST"


def test_known_route_other_method_is_405_with_allow(client: httpx.Client) -> None:
    r = client.delete("/api/hello")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["status"] == 405


def test_unknown_route_is_404_json(client: httpx.Client) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"


def test_binary_body_round_trips(client: httpx.Client) -> None:
    data = bytes(range(256)) * 4
    r = client.post("/api/echo/binary", content=data,
                    headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200
    assert r.content == data[::-1]
    assert r.headers["x-length"] == str(len(data))
    assert r.headers["content-type"] == "application/octet-stream"


def test_cookies_and_redirect(client: httpx.Client) -> None:
    r = client.get("/api/cookies")
    assert "session=abc" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    r = client.get("/api/redirect")
    assert r.status_code == 302 and r.headers["location"] == "/api/hello"


def test_user_exception_is_500_with_invocation_id_and_host_keeps_serving(
        host: HostProcess, client: httpx.Client) -> None:
    r = client.get("/api/fail")
    assert r.status_code == 500
    inv = r.json()["invocationId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", inv)
    assert host.wait_for_output(rf"Executed 'Functions.fail' \(Failed, Id={inv}") is not None
    assert host.wait_for_output(r"ValueError: boom from user code") is not None
    assert client.get("/api/hello").status_code == 200


def test_function_timeout_fails_the_invocation(host: HostProcess, client: httpx.Client) -> None:
    # host.json sets functionTimeout to 2 s.
    r = client.get("/api/slow", params={"s": "10"})
    assert r.status_code == 500
    assert host.wait_for_output(r"Timeout value of 00:00:02 exceeded by function "
                                r"'Functions.slow'") is not None


def test_context_has_invocation_id_and_name(host: HostProcess, client: httpx.Client) -> None:
    body = client.get("/api/ctx").json()
    assert body["function_name"] == "ctx"
    assert host.wait_for_output(rf"Executed 'Functions.ctx' \(Succeeded, "
                                rf"Id={body['invocation_id']}") is not None


def test_string_return_and_none_return(client: httpx.Client) -> None:
    r = client.get("/api/text")
    assert r.text == "plain string return"
    r = client.get("/api/nothing")
    assert r.status_code == 200 and r.content == b""


def test_function_name_decorator_names_the_function(client: httpx.Client) -> None:
    assert client.get("/api/named/bob").text == "bob"


def test_disabled_function_is_404(client: httpx.Client) -> None:
    assert client.get("/api/off").status_code == 404


def test_sync_functions_run_in_parallel_threads(client: httpx.Client) -> None:
    import concurrent.futures
    import time
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: httpx.get(f"{client.base_url}/api/sync-slow?s=0.5",
                                                    timeout=10).text, range(4)))
    assert results == ["finished"] * 4
    # Four 0.5 s sync calls in a thread pool take about 0.5 s, not 2 s.
    assert time.monotonic() - start < 1.5


def test_root_answers_200(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "up and running" in r.text


def test_admin_status_ping_and_functions_without_auth(host: HostProcess,
                                                       client: httpx.Client) -> None:
    status = client.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert re.fullmatch(r"[a-z0-9-]{1,32}", status["id"])
    assert client.get("/admin/host/ping").status_code == 200
    assert client.post("/admin/host/ping").status_code == 200
    names = {f["name"] for f in client.get("/admin/functions").json()}
    assert {"hello", "items", "renamed"} <= names
    one = client.get("/admin/functions/hello").json()
    assert one["invoke_url_template"] == f"http://127.0.0.1:{host.port}/api/hello"
    assert one["config"]["bindings"][0]["type"] == "httpTrigger"


def test_admin_invoke_rejects_bad_bodies(client: httpx.Client) -> None:
    r = client.post("/admin/functions/hello", content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    assert client.post("/admin/functions/hello", json=None).status_code == 400
    assert client.post("/admin/functions/nope", json={"input": "x"}).status_code == 404
    # An HTTP function is called at its URL, not through the admin API.
    assert client.post("/admin/functions/hello", json={"input": "x"}).status_code == 400
