"""Keys and secrets: every non-anonymous route answers 401 without a valid key, admin
endpoints need the master key, no key or connection-string secret appears in any log line
or error body, and a path parameter cannot reach outside its container or table."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from funchost.testing import Harness
from tests.reliability.conftest import APP, settings

pytestmark = pytest.mark.integration

FUNCTION_ROUTES = [
    ("POST", "/api/echo/x"),
    ("GET", "/api/echo/x"),
    ("PUT", "/api/files/a.txt"),
    ("PUT", "/api/rows/p/r"),
    ("GET", "/api/privileged"),
]
ADMIN = [
    ("GET", "/admin/host/status"),
    ("GET", "/admin/functions"),
    ("GET", "/admin/functions/echo"),
    ("POST", "/admin/functions/stuck_job"),
]


@pytest.fixture(scope="module")
def secured(storage_connection_string: str) -> Iterator[tuple[Harness, dict[str, str]]]:
    s = settings()
    host = Harness(APP, settings={**s, "AzureWebJobsStorage": storage_connection_string}, auth=True)
    host.start()
    try:
        yield host, s
    finally:
        host.stop()


def _keys(host: Harness) -> tuple[str, str, str]:
    manager = host.host.keys if host.host else None
    assert manager is not None
    host_keys = host.run(manager.host_keys)
    function_key = host.run(manager.function_keys, "echo")[0].value
    return host_keys.master.value, host_keys.function_keys[0].value, function_key


def test_routes_need_keys_and_admin_needs_the_master_key(
    secured: tuple[Harness, dict[str, str]], report: Callable[..., None]
) -> None:
    host, _ = secured
    master, host_function_key, echo_key = _keys(host)
    bodies: list[str] = []
    refused = 0
    for method, path in FUNCTION_ROUTES + ADMIN:
        for key in (None, "wrong-key", "x" * 200):
            headers = {"x-functions-key": key} if key else {}
            r = host.request(method, path, headers=headers, json={"input": "x"})
            assert r.status_code == 401, (method, path, key, r.status_code)
            bodies.append(r.text)
            refused += 1
    # A function key opens function routes, never the admin API or an admin-level route.
    assert host.post("/api/echo/x", headers={"x-functions-key": echo_key}).status_code == 200
    assert host.get(f"/api/echo/x?code={host_function_key}").status_code == 200
    for method, path in ADMIN:
        r = host.request(
            method, path, headers={"x-functions-key": host_function_key}, json={"input": "x"}
        )
        assert r.status_code == 401
        bodies.append(r.text)
    # An admin-level route takes the master key only.
    assert host.get("/api/privileged", headers={"x-functions-key": echo_key}).status_code == 401
    assert host.get("/api/privileged", headers={"x-functions-key": master}).text == "admin only"
    assert host.get("/api/open").status_code == 200
    assert host.get("/admin/host/ping").status_code == 200
    status = host.get("/admin/host/status", headers={"x-functions-key": master})
    assert status.status_code == 200
    bodies.append(status.text)
    # No secret in any body or log line.
    secrets = {master, host_function_key, echo_key}
    text = "\n".join(bodies + host.logs)
    assert not [s for s in secrets if s in text]
    report("keys", refused_without_a_valid_key=refused, secrets_leaked=0)


def test_no_connection_string_secret_in_logs_or_error_bodies(
    secured: tuple[Harness, dict[str, str]], storage_connection_string: str
) -> None:
    host, _s = secured
    master, _, _ = _keys(host)
    account_key = dict(
        part.split("=", 1) for part in storage_connection_string.split(";") if "=" in part
    )["AccountKey"]
    # A failing binding (a table key Azure refuses) makes an error body and log lines.
    r = host.request("PUT", "/api/rows/p/bad%23key", headers={"x-functions-key": master})
    assert r.status_code == 500 and "invocationId" in r.json()
    text = r.text + "\n".join(host.logs)
    assert account_key not in text and "AccountKey=" not in text


def _raw(host: Harness, request: bytes) -> bytes:
    port = int(host.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_path_parameters_cannot_escape_their_container_or_table(
    secured: tuple[Harness, dict[str, str]], storage_connection_string: str
) -> None:
    host, s = secured
    master, _, _ = _keys(host)
    auth = f"x-functions-key: {master}\r\n".encode()
    for name in (b"%2E%2E", b".", b"..%5Cevil", b"%2E%2E%2Fevil"):
        reply = _raw(
            host,
            b"PUT /api/files/"
            + name
            + b" HTTP/1.1\r\nHost: x\r\n"
            + auth
            + b"Content-Length: 4\r\n\r\nboom",
        )
        status = int(reply.split()[1])
        assert status in (400, 404, 500), (name, reply[:200])
    for pk in (b"a%2Fb", b"a%23b", b"a%3Fb", b"a%5Cb"):
        reply = _raw(
            host,
            b"PUT /api/rows/"
            + pk
            + b"/r HTTP/1.1\r\nHost: x\r\n"
            + auth
            + b"Content-Length: 0\r\n\r\n",
        )
        assert int(reply.split()[1]) in (400, 404, 500), (pk, reply[:200])
    # Nothing was written outside the binding's container: every blob of the account is
    # inside it, and none is named with a dot segment.
    service = BlobServiceClient.from_connection_string(storage_connection_string)
    container = service.get_container_client(s["REL_CONTAINER"])
    names = [b.name for b in container.list_blobs()] if container.exists() else []
    assert not [n for n in names if ".." in n.split("/") or "." in n.split("/")]
    for other in service.list_containers():
        if other.name.startswith("rc") and other.name != s["REL_CONTAINER"]:
            continue
        blobs = [b.name for b in service.get_container_client(other.name).list_blobs()]
        assert "evil" not in blobs, other.name
