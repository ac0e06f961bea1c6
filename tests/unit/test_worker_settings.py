"""Which interpreter runs the app and in how many worker processes (issue 16), and the
frames between the host and a worker."""

from __future__ import annotations

import pickle
import socket
import sys
from pathlib import Path

import pytest
from azure.functions.meta import Datum

from funchost.core.failures import to_worker_exception
from funchost.core.invocation import WorkerException, builtin_kind
from funchost.errors import ConfigError
from funchost.workers import frames, watch
from funchost.workers.interpreter import app_interpreter, process_count


def _python(folder: Path) -> Path:
    exe = folder / "bin" / "python"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return exe


def test_the_setting_wins_then_venv_then_virtual_env_then_our_own(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    active = _python(tmp_path / "active")
    assert app_interpreter(app, {}).path == Path(sys.executable)
    env = {"VIRTUAL_ENV": str(tmp_path / "active")}
    assert app_interpreter(app, env).path == active
    assert app_interpreter(app, env).origin == "the activated VIRTUAL_ENV"
    plain = _python(app / "venv")
    assert app_interpreter(app, env).path == plain
    dotted = _python(app / ".venv")
    assert (app_interpreter(app, env).path, app_interpreter(app, env).origin) == (
        dotted,
        "the app's .venv",
    )
    chosen = _python(tmp_path / "chosen")
    # .NET configuration keys are case-insensitive; a relative path is the app folder's.
    env["LANGUAGEWORKERS__PYTHON__DEFAULTEXECUTABLEPATH"] = str(chosen)
    assert app_interpreter(app, env).path == chosen
    env = {"languageWorkers__python__defaultExecutablePath": "venv/bin/python"}
    assert app_interpreter(app, env).path == plain


def test_a_setting_that_names_no_executable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"languageWorkers__python__defaultExecutablePath: "):
        app_interpreter(tmp_path, {"languageWorkers__python__defaultExecutablePath": "nope"})


def test_arguments_go_before_the_worker_module(tmp_path: Path) -> None:
    env = {"languageWorkers__python__arguments": "-m debugpy --listen '127.0.0.1:5678'"}
    assert app_interpreter(tmp_path, env).arguments == (
        "-m",
        "debugpy",
        "--listen",
        "127.0.0.1:5678",
    )
    with pytest.raises(ConfigError, match="languageWorkers__python__arguments"):
        app_interpreter(tmp_path, {"languageWorkers__python__arguments": "-X 'open"})


@pytest.mark.parametrize(
    ("raw", "count"), [("", 1), ("1", 1), ("0", 1), ("-2", 1), ("4", 4), ("10", 10)]
)
def test_process_count_rpc_worker_config_factory(raw: str, count: int) -> None:
    assert process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": raw}) == count


@pytest.mark.parametrize(
    ("raw", "message"),
    [("11", "more than the host's maximum of 10"), ("two", "'two' is not a whole number")],
)
def test_bad_process_count_is_an_error(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"FUNCTIONS_WORKER_PROCESS_COUNT: .*{message}"):
        process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": raw})


def test_frames_carry_datums_and_end_with_the_stream() -> None:
    host, worker = socket.socketpair()
    message = (frames.DONE, 7, {"$return": Datum({"body": Datum(b"\x00hi", "bytes")}, "http")})
    host.sendall(bytes(frames.encode(message)) * 2)
    host.close()
    for _ in range(2):
        kind, call_id, results = frames.read_blocking(worker) or ()
        assert (kind, call_id) == (frames.DONE, 7)
        assert results["$return"].value["body"].value == b"\x00hi"
    assert frames.read_blocking(worker) is None
    worker.close()


def test_the_reload_watch_sees_the_apps_python_files_and_host_json_only(tmp_path: Path) -> None:
    for name in ("function_app.py", "functions/jobs.py", "notes.txt", ".venv/lib/x.py",
                 "venv/y.py", "node_modules/z.py", "functions/__pycache__/jobs.cpython.py",
                 ".git/hook.py", "host.json", "functions/host.json",
                 "local.settings.json"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    found = sorted(watch.snapshot(tmp_path))
    assert found == ["function_app.py", "functions/jobs.py", "host.json"]


def test_a_worker_failure_of_a_builtin_type_is_an_instance_of_it() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        sent = to_worker_exception(exc)
    received = builtin_kind(pickle.loads(pickle.dumps(sent, protocol=5)))
    assert isinstance(received, KeyError) and isinstance(received, WorkerException)
    assert (received.type_name, str(received)) == ("KeyError", "'missing'")
    assert received.stack == sent.stack and "{}[\"missing\"]" in received.stack
    # Sent back (as a retry's exception), it is the plain exception again.
    again = pickle.loads(pickle.dumps(received, protocol=5))
    assert type(again) is WorkerException and again.args == sent.args

    class Custom(Exception):
        pass

    custom = builtin_kind(to_worker_exception(Custom("x")))
    assert type(custom) is WorkerException and custom.type_name == "Custom"
    os_error = builtin_kind(to_worker_exception(OSError(2, "gone")))  # a subclass by errno
    assert isinstance(os_error, FileNotFoundError) and str(os_error) == "[Errno 2] gone"
