"""Which interpreter runs the app and in how many worker processes (issue 16), and the
frames between the host and a worker."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from azure.functions.meta import Datum

from funchost.errors import ConfigError
from funchost.workers import frames
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
