"""`funchost dev` as a Core Tools user meets it in the first hour (issue 17): a quickstart
runs without keys, state stays out of the app folder, ports and emulators behave.

Every test runs the command as a process, on free ports, with its per-user data folder in
the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.management import ServiceBusAdministrationClient

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.devservices.servicebus import ServiceBusEmulator
from sbemulator.admin.http_server import CERTIFICATE
from tests.integration.cli_support import APPS, DevProcess, clean_env, require_azurite, run_cli

pytestmark = pytest.mark.integration

QUICKSTART = APPS / "quickstart_http"
SB_APP = APPS / "servicebus_missing"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of the quickstart, so what `dev` leaves in the app folder can be seen."""
    require_azurite()
    app = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, app)
    return app


def test_quickstart_with_default_auth_answers_without_a_key_as_func_start(
    quickstart: Path, tmp_path: Path
) -> None:
    """CT `StartHostAction.cs` `enableAuth` (default false): `func start` does not enforce
    keys, so the quickstart's FUNCTION-level routes answer a request without one."""
    data = tmp_path / "data"
    with DevProcess(quickstart, clean_env(data)) as proc:
        proc.start()
        r = httpx.get(f"{proc.url}/api/httpget", params={"name": "Ada"}, timeout=30)
        assert (r.status_code, r.text) == (200, "Hello, Ada!")
        r = httpx.post(f"{proc.url}/api/httppost", json={"name": "Ada", "age": 36}, timeout=30)
        assert r.text == "Hello, Ada! You are 36 years old!"
        out = proc.output()
    assert (
        "Function keys are not enforced (as with `func start`): requests need no key. "
        "`funchost dev --auth` enforces them as Azure does." in out
    )
    assert "2 functions running." in out
    # Local state lives in the per-user data folder, keyed by the app's path: nothing in
    # the app folder that a publish would upload.
    assert sorted(p.name for p in quickstart.iterdir()) == ["function_app.py", "host.json"]
    (state,) = (data / "funchost" / "apps").iterdir()
    assert state.name.startswith("quickstart-")
    assert (state / "app.txt").read_text().strip() == str(quickstart.resolve())
    assert (state / "azurite").is_dir() and (state / "servicebus" / "data").is_dir()
    assert f"data in {state / 'azurite'}" in out


def _free_port_run(count: int = 3) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1 now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + count):
                    s = held.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise AssertionError(f"no {count} consecutive free ports")


def test_auth_enforces_keys_and_the_401_names_where_keys_go(quickstart: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    # Azurite on ports of the app's own choosing (Host.AzuritePorts): `funchost keys` run
    # from another folder finds it there, as the README's walkthrough does it.
    base = _free_port_run()
    (quickstart / "local.settings.json").write_text(
        json.dumps({"Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
                    "Host": {"AzuritePorts": str(base)}})
    )
    with DevProcess(quickstart, env, ["--auth", "--azurite-ports", str(base)]) as proc:
        proc.start()
        r = httpx.get(f"{proc.url}/api/httpget", timeout=30)
        assert r.status_code == 401
        detail = r.json()["detail"]
        for needed in ("x-functions-key", "?code=", "funchost keys"):
            assert needed in detail, detail
        out = proc.output()
        assert "Function keys are enforced, as on Azure" in out
        assert f"Azurite started on 127.0.0.1:{base}-{base + 2}" in out
        # `funchost keys` prints the keys this host checks (from the Azurite dev started).
        keys = run_cli("keys", "--json", "--app-dir", str(quickstart), env=env, cwd=tmp_path)
        assert keys.returncode == 0, keys.stderr
        key = json.loads(keys.stdout)["functionKeys"]["default"]
        r = httpx.get(f"{proc.url}/api/httpget", params={"code": key}, timeout=30)
        assert r.status_code == 200


def test_state_dir_option_puts_everything_there(quickstart: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    with DevProcess(quickstart, clean_env(tmp_path / "data"), ["--state-dir", str(chosen)]) as p:
        p.start()
    assert (chosen / "azurite").is_dir()
    assert not (tmp_path / "data").exists()


# -- ports ---------------------------------------------------------------------------------


@pytest.fixture
def squatter() -> Iterator[int]:
    """A program on a port that accepts connections and closes them without a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def _one_line_error(out: str, err: str) -> str:
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_port_in_use_is_one_line_naming_the_port_and_the_option(
    quickstart: Path, tmp_path: Path, squatter: int
) -> None:
    env = clean_env(tmp_path / "data")
    base = ["dev", "--app-dir", str(quickstart), "--host", "127.0.0.1"]
    storage = run_cli(*base, "--port", "0", "--azurite-ports", str(squatter), env=env)
    assert storage.returncode == 1
    line = _one_line_error(storage.stdout, storage.stderr)
    assert f"port {squatter} is in use by another program, not Azurite" in line
    assert "--azurite-ports" in line and "Host.AzuritePorts" in line

    bus = run_cli(
        *base, "--port", "0", "--azurite-ports", "0", "--servicebus-port", str(squatter), env=env
    )
    assert bus.returncode == 1
    line = _one_line_error(bus.stdout, bus.stderr)
    assert f"port {squatter} is in use by a program that is not a Service Bus emulator" in line
    assert "--servicebus-port" in line

    http = run_cli(*base, "--port", str(squatter), env=env)
    assert http.returncode == 1
    line = _one_line_error(http.stdout, http.stderr)
    assert f"port {squatter} is in use" in line and "--port" in line
    assert "Azurite started" not in http.stdout  # refused before starting anything


def test_ports_from_local_settings(quickstart: Path, tmp_path: Path, squatter: int) -> None:
    (quickstart / "local.settings.json").write_text(
        '{"Values": {}, "Host": {"AzuritePorts": "%d", "ServiceBusPort": 0}}' % squatter
    )
    out = run_cli("dev", "--app-dir", str(quickstart), "--port", "0", env=clean_env(tmp_path))
    assert out.returncode == 1
    assert f"port {squatter} is in use by another program" in out.stderr
    (quickstart / "local.settings.json").write_text('{"Host": {"AzuritePorts": "1,2"}}')
    bad = run_cli("dev", "--app-dir", str(quickstart), env=clean_env(tmp_path))
    assert bad.returncode == 1
    assert "local.settings.json: Host.AzuritePorts: expected one port" in bad.stderr


def test_an_azurite_found_on_the_ports_is_probed_and_reused(
    quickstart: Path, tmp_path: Path, azurite: AzuriteEndpoints
) -> None:
    ports = f"{azurite.blob_port},{azurite.queue_port},{azurite.table_port}"
    with DevProcess(quickstart, clean_env(tmp_path / "data"), ["--azurite-ports", ports]) as p:
        p.start()
        assert httpx.get(f"{p.url}/api/httpget", timeout=30).status_code == 200
        out = p.output()
    assert "Reusing the storage emulator already listening on 127.0.0.1:" in out
    assert "(Azurite-Blob/" in out and "Azurite started" not in out


# -- Service Bus entities --------------------------------------------------------------------


def _send(connection: str, queue: str | None = None, topic: str | None = None) -> None:
    with ServiceBusClient.from_connection_string(connection) as client:
        sender = client.get_queue_sender(queue) if queue else client.get_topic_sender(str(topic))
        with sender:
            sender.send_messages(ServiceBusMessage(b"m-1"))


def test_a_reused_emulator_without_the_apps_entities_is_an_error_per_function(
    tmp_path: Path,
) -> None:
    """Issue 17 item 4: the host (HTTP included) runs; each function whose queue or
    subscription is missing is "in error" with the reason, and its listener retries, so
    the entity created later works, and the function is no longer in error."""
    require_azurite()
    emulator = ServiceBusEmulator()  # built-in entities only, and the administration API
    emulator.start()
    try:
        assert emulator.port is not None and emulator.connection_string is not None
        args = ["--servicebus-port", str(emulator.port)]
        with DevProcess(SB_APP, clean_env(tmp_path / "data"), args) as proc:
            proc.start()
            out = proc.output()
            assert f"Reusing the Service Bus emulator already listening on 127.0.0.1:{emulator.port}" in out
            assert "on_order: error: the Service Bus queue 'cli-orders' does not exist" in out
            assert (
                "on_event: error: the Service Bus topic 'cli-events' with subscription 'audit' "
                "does not exist" in out
            )
            assert "1 function running, 2 in error" in out
            assert httpx.get(f"{proc.url}/api/hello", timeout=30).text == "hello"
            errors = httpx.get(f"{proc.url}/admin/host/status", timeout=30).json()["errors"]
            assert any("'cli-orders' does not exist" in e for e in errors)
            assert proc.wait_for_output(r"Service Bus entity 'cli-orders' for function 'on_order'")
            # The queue created now: the listener's next retry (backoff 1 s, then more)
            # opens it, and the mark goes.
            admin_port = re.search(r"administration API on http://[^\s:]+:(\d+)", emulator.output())
            assert admin_port is not None
            with ServiceBusAdministrationClient.from_connection_string(
                f"Endpoint=sb://localhost:{admin_port.group(1)};SharedAccessKeyName="
                "RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
                "UseDevelopmentEmulator=true;",
                connection_verify=str(CERTIFICATE),  # the emulator's own, as its docs say
            ) as admin:
                admin.create_queue("cli-orders")
            assert proc.wait_for_output(
                r"The 'on_order' function is no longer in error: it reached its source",
                timeout=30,
            )
            errors = httpx.get(f"{proc.url}/admin/host/status", timeout=30).json()["errors"]
            assert not any("'cli-orders'" in e for e in errors)
            assert any("'cli-events'" in e for e in errors)  # still missing
    finally:
        emulator.stop()


def test_our_emulator_gets_the_entities_the_config_file_lacks(tmp_path: Path) -> None:
    """`servicebus.config.json` declares neither the queue nor the subscription the triggers
    read: dev's own emulator has them, so both functions run."""
    require_azurite()
    with DevProcess(SB_APP, clean_env(tmp_path / "data")) as proc:
        proc.start()
        out = proc.output()
        assert "3 functions running." in out
        m = proc.wait_for_output(r"Service Bus emulator started on 127\.0\.0\.1:(\d+)")
        assert m is not None
        connection = (
            f"Endpoint=sb://localhost:{m.group(1)};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )
        _send(connection, queue="cli-orders")
        _send(connection, topic="cli-events")
        assert proc.wait_for_output(r"order received: m-1", timeout=30)
        assert proc.wait_for_output(r"event received: m-1", timeout=30)
        # The app's own entity is still there, with its own settings.
        _send(connection, queue="declared-queue")


SENDER = """

@app.route(route="send")
@app.service_bus_queue_output(arg_name="out", queue_name="cli-new", connection="OrdersBus")
def send(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.params["body"])
    return func.HttpResponse("sent")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="cli-new", connection="OrdersBus")
def take(msg: func.ServiceBusMessage) -> None:
    import logging

    logging.info("took %s", msg.get_body().decode())
"""


def test_a_reload_that_adds_service_bus_functions_gets_their_queue(
    quickstart: Path, tmp_path: Path
) -> None:
    """--reload (on in dev) restarts the host for new functions; their connection, which
    no setting names, points at dev's own emulator, which keeps running and gets the
    queue they name through its administration API."""
    with DevProcess(quickstart, clean_env(tmp_path / "data")) as proc:
        proc.start()
        app = quickstart / "function_app.py"
        app.write_text(app.read_text() + SENDER)
        assert proc.wait_for_output(r"Created on the Service Bus emulator for the app: "
                                    r"queue 'cli-new'\.", timeout=30)  # fmt: skip
        assert proc.wait_for_output(r"4 functions running\.", timeout=30)
        # The restarted host answers on the same port.
        r = httpx.get(f"{proc.url}/api/send", params={"body": "m-1"}, timeout=30)
        assert (r.status_code, r.text) == (200, "sent")
        assert proc.wait_for_output(r"took m-1", timeout=30)
        assert "is unreachable" not in proc.output()


# -- what the start says ------------------------------------------------------------------------


def test_start_summary_names_what_runs_and_strict_exits_for_ci(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    args = ["start", "--app-dir", str(APPS / "partial"), "--host", "127.0.0.1", "--port", "0"]
    strict = run_cli(*args, "--no-auth", "--strict", env=env)
    assert strict.returncode == 1
    assert "2 functions running, 3 in error, 1 not supported" in strict.stdout
    assert (
        "hub: not supported: Event Hubs (eventHubTrigger): there is no Event Hubs trigger"
        in strict.stdout
    )
    assert "--strict: 4 problem(s) listed above; stopping." in strict.stderr


def test_log_format_json_makes_every_host_line_a_json_object(
    quickstart: Path, tmp_path: Path
) -> None:
    with DevProcess(quickstart, clean_env(tmp_path / "data"), ["--log-format", "json"]) as proc:
        proc.start()
        assert httpx.get(f"{proc.url}/api/httpget", params={"name": "Ada"}, timeout=30).is_success
        executed = proc.wait_for_output(r"Executed 'Functions\.http_get'")
        records = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    assert executed
    (done,) = [r for r in records if r["message"].startswith("Executed 'Functions.http_get'")]
    assert done["functionName"] == "http_get" and done["invocationId"]
    assert any(r["message"].startswith("Host started in ") for r in records)
    # The lines about the emulators dev started are records too, not plain text.
    assert any(r["message"].startswith("Azurite started on ") for r in records)
    assert not any(line.startswith("Azurite started") for line in proc.output().splitlines())
