"""The pieces of the CLI that decide things (issue 17, issue 15 item 14): where state lives,
which ports, what is not supported, the Python check, templates' edits, the emulator's
config."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from funchost import bindings, triggers
from funchost.cli.commands import colour_wanted
from funchost.cli.pyversion import azure_python_warning, require_python
from funchost.cli.scaffold import Script, snake
from funchost.cli.state import app_key, data_home, state_dir
from funchost.config.local_settings import LocalSettings, parse_azurite_ports
from funchost.core import unsupported
from funchost.core.unsupported import (
    UNSUPPORTED,
    unsupported_host_settings,
    unsupported_reason,
)
from funchost.devservices.probe import in_use_port, speaks_amqp, storage_server
from funchost.devservices.servicebus_entities import (
    AppEntities,
    EntityUse,
    emulator_config,
    read_user_config,
)
from funchost.errors import ConfigError, HostError

# -- state folder -------------------------------------------------------------------------


def test_data_home_per_platform(tmp_path: Path) -> None:
    home = Path.home()
    assert data_home({"XDG_DATA_HOME": str(tmp_path)}, "linux") == tmp_path
    assert data_home({}, "linux") == home / ".local" / "share"
    # The XDG spec: a relative XDG_DATA_HOME is invalid and ignored.
    assert data_home({"XDG_DATA_HOME": "relative"}, "linux") == home / ".local" / "share"
    assert data_home({}, "darwin") == home / "Library" / "Application Support"
    assert data_home({"LOCALAPPDATA": "C:/Users/a/AppData/Local"}, "win32") == Path(
        "C:/Users/a/AppData/Local"
    )


def test_state_folder_is_per_app_path_and_outside_it(tmp_path: Path) -> None:
    a, b = tmp_path / "one" / "app", tmp_path / "two" / "app"
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    assert app_key(a) != app_key(b) and app_key(a).startswith("app-")
    assert app_key(a) == app_key(a)  # stable across runs
    assert state_dir(a, None, env).parent == tmp_path / "data" / "funchost" / "apps"
    assert not state_dir(a, None, env).is_relative_to(a)
    assert state_dir(a, tmp_path / "mine", env) == (tmp_path / "mine").resolve()


# -- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ports"),
    [
        ("10010", (10010, 10011, 10012)),
        ("10010,10020,10030", (10010, 10020, 10030)),
        (10010, (10010, 10011, 10012)),
        ([1, 2, 3], (1, 2, 3)),
        ("0", (0, 0, 0)),
    ],
)
def test_azurite_ports(value: object, ports: tuple[int, int, int]) -> None:
    assert parse_azurite_ports(value) == ports


@pytest.mark.parametrize("value", ["1,2", "x", "70000", 65534, True, [1, "a", 3], ""])
def test_azurite_ports_refused(value: object) -> None:
    with pytest.raises(ValueError, match="port"):
        parse_azurite_ports(value)


def test_local_settings_host_ports(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Host": {"AzuritePorts": "20000", "ServiceBusPort": 5673}})
    )
    settings = LocalSettings.load(tmp_path)
    assert settings.azurite_ports == (20000, 20001, 20002)
    assert settings.servicebus_port == 5673
    (tmp_path / "local.settings.json").write_text(json.dumps({"Host": {"ServiceBusPort": "x"}}))
    with pytest.raises(ConfigError, match=r"Host\.ServiceBusPort must be a port number"):
        LocalSettings.load(tmp_path)


def test_in_use_port_from_service_output() -> None:
    azurite = "Exit due to unhandled error: listen EADDRINUSE: address already in use 127.0.0.1:10000"
    emulator = "sbemulator: cannot listen on 127.0.0.1:5672: [Errno 98] Address already in use"
    assert in_use_port(azurite) == 10000
    assert in_use_port(emulator) == 5672
    assert in_use_port("something else failed") is None


def test_probes_refuse_a_program_that_is_neither() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:  # says something that is not HTTP, not AMQP, then closes
        for _ in range(2):
            conn, _ = server.accept()
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        assert storage_server(port) is None
        assert speaks_amqp(port) is False
    finally:
        thread.join(5)
        server.close()


# -- not supported -----------------------------------------------------------------------------


def test_no_supported_type_is_listed_as_unsupported() -> None:
    """A plug-in added later for one of these types must leave this table (or this fails)."""
    supported = {t.lower() for t in triggers.BUILTIN}
    supported |= set(bindings.INPUTS) | set(bindings.OUTPUTS) | bindings.TRIGGER_OUTPUTS
    assert not supported & set(UNSUPPORTED)
    assert unsupported.TRIGGER_ENTRY_POINTS == triggers.ENTRY_POINT_GROUP


def test_unsupported_reasons() -> None:
    durable = unsupported_reason("httpTrigger", ["http", "durableClient"])
    assert durable is not None
    assert durable.startswith("not supported: Durable Functions (durableClient): ")
    assert unsupported_reason("queueTrigger", ["blob"]) is None
    sql = unsupported_reason("timerTrigger", ["sql"])
    assert sql is not None and "Azure SQL (sql)" in sql


def test_a_trigger_plugin_makes_the_type_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unsupported, "_plugin_triggers", lambda: {"eventhubtrigger"})
    assert unsupported_reason("eventHubTrigger", []) is None
    # A plug-in registers triggers only: an Event Hubs output is still not supported.
    assert unsupported_reason("eventHubTrigger", ["eventHub"]) is not None


def test_unsupported_host_settings() -> None:
    (line,) = unsupported_host_settings({"version": "2.0", "telemetryMode": "OpenTelemetry"})
    assert line.startswith("host.json telemetryMode: funchost writes its logs to the console")
    assert unsupported_host_settings({"version": "2.0"}) == []


# -- Python, colour ----------------------------------------------------------------------------


def test_python_check(capsys: pytest.CaptureFixture[str]) -> None:
    require_python((3, 10, 0))
    with pytest.raises(SystemExit) as exited:
        require_python((3, 9, 18))
    assert exited.value.code == 1
    assert "funchost needs Python 3.10 or newer; this is Python 3.9.18" in capsys.readouterr().err
    assert azure_python_warning((3, 12, 4)) is None
    warning = azure_python_warning((3, 15, 0))
    assert warning is not None and "3.15.0 is not a version Azure Functions runs" in warning


def test_no_color() -> None:
    assert colour_wanted({"NO_COLOR": "1"}) is False
    assert colour_wanted({"NO_COLOR": ""}) is None  # no-color.org: only a non-empty value
    assert colour_wanted({}) is None


# -- templates' edits ------------------------------------------------------------------------


def _script(tmp_path: Path, text: str) -> Script:
    path = tmp_path / "function_app.py"
    path.write_text(text)
    return Script.read(path)


def test_imports_are_added_where_imports_are(tmp_path: Path) -> None:
    script = _script(
        tmp_path, '"""Doc."""\nimport os\n\nimport azure.functions as func\n\napp = func.FunctionApp()\n'
    )
    assert script.app_name() == "app"
    text = script.with_imports(["import logging", "import azure.functions as func"])
    assert text == (
        '"""Doc."""\nimport os\n\nimport azure.functions as func\nimport logging\n\n'
        "app = func.FunctionApp()\n"
    )
    bare = _script(tmp_path, '"""Doc."""\napplication = FunctionApp()\n')
    assert bare.app_name() == "application"
    assert bare.with_imports(["import logging"]) == (
        '"""Doc."""\nimport logging\napplication = FunctionApp()\n'
    )


def test_a_script_without_a_function_app_is_named(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="no `app = func.FunctionApp\\(\\)` at module level"):
        _script(tmp_path, "x = 1\n").app_name()
    with pytest.raises(HostError, match=r"function_app.py:1: cannot add to it"):
        _script(tmp_path, "def (\n")


def test_snake() -> None:
    assert snake("make_thumbnail") == "make-thumbnail"
    assert snake("___") == "items"


# -- the emulator's config -------------------------------------------------------------------


def _entities() -> AppEntities:
    return AppEntities(
        (
            EntityUse("a", "ServiceBus", queue="orders", sessions=True),
            EntityUse("b", "ServiceBus", topic="events", subscription="audit"),
            EntityUse("c", "ServiceBus", topic="news"),
            EntityUse("d", "ServiceBus", queue="Declared"),  # names compare case-insensitively
        ),
        dynamic=False,
    )


def test_emulator_config_adds_what_the_apps_config_lacks() -> None:
    user = {
        "UserConfig": {
            "Namespaces": [
                {
                    "Name": "mine",
                    "Queues": [{"Name": "declared", "Properties": {"MaxDeliveryCount": 3}}],
                    "Topics": [{"Name": "events", "Subscriptions": [{"Name": "other"}]}],
                }
            ],
            "Logging": {"Type": "File"},
        }
    }
    config = emulator_config(_entities(), user)
    (ns,) = config["UserConfig"]["Namespaces"]
    assert ns["Name"] == "mine" and config["UserConfig"]["Logging"] == {"Type": "File"}
    queues = {q["Name"]: q["Properties"] for q in ns["Queues"]}
    assert queues["declared"] == {"MaxDeliveryCount": 3}  # the app's own, untouched
    assert queues["orders"]["RequiresSession"] is True
    topics = {t["Name"]: [s["Name"] for s in t["Subscriptions"]] for t in ns["Topics"]}
    assert topics == {"events": ["other", "audit"], "news": []}
    assert user["UserConfig"]["Namespaces"][0]["Queues"] == [  # not changed in place
        {"Name": "declared", "Properties": {"MaxDeliveryCount": 3}}
    ]


def test_emulator_config_without_a_file_keeps_the_built_in_entities() -> None:
    config = emulator_config(_entities(), None)
    (ns,) = config["UserConfig"]["Namespaces"]
    names = {q["Name"] for q in ns["Queues"]}
    assert {"queue.1", "queue.2", "session.queue.1", "orders", "Declared"} <= names


def test_read_user_config_only_takes_a_shape_to_add_to(tmp_path: Path) -> None:
    path = tmp_path / "servicebus.config.json"
    path.write_text("{not json")
    assert read_user_config(path) is None
    path.write_text(json.dumps({"UserConfig": {"Namespaces": [{}, {}]}}))
    assert read_user_config(path) is None
    path.write_text(json.dumps({"UserConfig": {"Namespaces": [{"Queues": ["q"]}]}}))
    assert read_user_config(path) is None
    path.write_text(json.dumps({"UserConfig": {"Namespaces": [{"Queues": [{"Name": "q"}]}]}}))
    assert read_user_config(path) is not None
