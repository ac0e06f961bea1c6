"""Worker processes (issue 16): `funchost start` runs the app in its own interpreter, in
`FUNCTIONS_WORKER_PROCESS_COUNT` processes, as the real host runs Python workers
(H `Workers/Rpc/FunctionRegistration/RpcFunctionInvocationDispatcher.cs`).

- Two sync sleeps overlap with two processes of one thread each, in different pids.
- The app's `.venv` runs it: a package installed there (and not in funchost's environment)
  imports; an interpreter without azure-functions gets the exact pip line.
- A worker killed mid-invocation is restarted: its queue message is delivered again, the
  host stays up and HTTP keeps answering.
- functionTimeout stops an infinite loop by restarting its worker
  (H `WebScriptHostExceptionHandler.cs` `OnTimeoutExceptionAsync`).
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from azure.functions.meta import Datum

from funchost.config.host_config import HostConfig
from funchost.core.invocation import Invocation
from funchost.core.pipeline import timeout_deadline
from funchost.core.spec import FunctionSpec
from funchost.devservices.process import ServiceStartError
from funchost.testing import Harness
from funchost.workers.interpreter import Interpreter
from funchost.workers.pool import PoolSettings, WorkerPool
from tests.hostprocess import HostProcess
from tests.integration.queue_helpers import queue

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "workers"
SITE = Path(importlib.util.find_spec("azure.functions").origin).parents[2]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_workers(storage_connection_string: str) -> Iterator[tuple[HostProcess, str]]:
    hold_queue = "hold-" + uuid.uuid4().hex[:12]
    proc = HostProcess(
        APP,
        env={
            "AzureWebJobsStorage": storage_connection_string,
            "FUNCTIONS_WORKER_PROCESS_COUNT": "2",
            "PYTHON_THREADPOOL_THREAD_COUNT": "1",
            "Q_HOLD": hold_queue,
        },
        args=["--no-auth"],
    )
    proc.start()
    try:
        yield proc, hold_queue
    finally:
        proc.stop()


def test_two_sleeps_overlap_in_two_processes(two_workers: tuple[HostProcess, str]) -> None:
    proc, _ = two_workers
    assert re.search(r"The app runs in 2 worker process\(es\) with \S+python", proc.output())
    url = f"{proc.url}/api/sleep?s=1"
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: httpx.get(url, timeout=30), range(2)))
    took = time.monotonic() - began
    assert [r.status_code for r in replies] == [200, 200]
    pids = {r.text for r in replies}
    assert len(pids) == 2 and str(proc.pid) not in pids
    assert took < 1.8, f"two 1 s sleeps took {took:.2f}s: they did not overlap"


def test_killed_worker_is_restarted_and_its_message_redelivered(
    two_workers: tuple[HostProcess, str], storage_connection_string: str
) -> None:
    proc, hold_queue = two_workers
    body = "msg-" + uuid.uuid4().hex[:8]
    queue(storage_connection_string, hold_queue).send_message(
        base64.b64encode(body.encode()).decode()
    )
    holding = proc.wait_for_output(rf"holding {body} in pid (\d+)", timeout=30)
    assert holding, proc.output()[-2000:]
    victim = int(holding.group(1))
    os.kill(victim, signal.SIGKILL)
    assert proc.wait_for_output(
        rf"The worker process \(pid {victim}\) was killed by SIGKILL; restarting it", timeout=15
    )
    # The invocation failed (the host says why) and the message came back.
    assert proc.wait_for_output(
        rf"the worker process \(pid {victim}\) running it was killed by SIGKILL", timeout=15
    )
    assert proc.wait_for_output(rf"got {body} again \(dequeue count 2\)", timeout=30)
    assert proc.returncode is None  # the host is up
    reply = httpx.get(f"{proc.url}/api/pid", timeout=30)
    assert reply.status_code == 200 and reply.text != str(victim)
    assert proc.wait_for_output(r"Restart of language worker process\(es\) completed", timeout=15)


def test_a_segfault_fails_its_request_and_the_worker_is_restarted(
    two_workers: tuple[HostProcess, str],
) -> None:
    proc, _ = two_workers
    reply = httpx.get(f"{proc.url}/api/crash", timeout=30)
    assert reply.status_code == 500
    # The host prints the worker's last line as it reads it; the reply may come first.
    assert proc.wait_for_output(r"crashing \d+", timeout=15), proc.output()[-3000:]
    crashed = re.findall(r"crashing (\d+)", proc.output())[-1]
    assert proc.wait_for_output(
        rf"The worker process \(pid {crashed}\) was killed by SIGSEGV; restarting it", timeout=15
    )
    assert proc.wait_for_output(
        rf"WorkerExited: the worker process \(pid {crashed}\) running it was killed by SIGSEGV"
    )
    assert httpx.get(f"{proc.url}/api/pid", timeout=30).status_code == 200
    assert proc.returncode is None


def test_function_timeout_restarts_the_worker_of_an_infinite_loop(
    two_workers: tuple[HostProcess, str],
) -> None:
    proc, _ = two_workers
    began = time.monotonic()
    reply = httpx.get(f"{proc.url}/api/spin", timeout=30)
    assert reply.status_code == 500
    assert 2.5 < time.monotonic() - began < 10  # functionTimeout is 3 s in host.json
    assert proc.wait_for_output(r"spinning in \d+", timeout=15), proc.output()[-3000:]
    spinning = re.findall(r"spinning in (\d+)", proc.output())[-1]
    assert proc.wait_for_output(
        r"Timeout value of 00:00:03 exceeded by function 'Functions.spin' \(Id: '[0-9a-f-]+'\)"
    )
    restarting = proc.wait_for_output(
        r"A function timeout has occurred. Restarting worker process executing invocationId"
    )
    assert restarting
    # In the real host's order: the timeout, then the restart.
    assert proc.output().index("Timeout value of 00:00:03") < restarting.start()
    assert proc.wait_for_output(rf"The worker process \(pid {spinning}\) was killed by SIGKILL")
    # The loop is stopped: its process is gone, and both workers answer.
    deadline = time.monotonic() + 15
    while _alive(int(spinning)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(spinning))
    pids = {httpx.get(f"{proc.url}/api/sleep?s=0.3", timeout=30).text for _ in range(2)}
    assert spinning not in pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone as far as user code goes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


# -- the app's own interpreter ----------------------------------------------------------------
TINY_APP = '''
import azure.functions as func
import tinypkg

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="tiny")
def tiny(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(tinypkg.VALUE)
'''


def _wheel(folder: Path) -> Path:
    """A wheel of `tinypkg`, built by hand (a wheel is a zip with its RECORD): pip installs
    it without a build backend or the network."""
    files = {
        "tinypkg/__init__.py": 'VALUE = "from the app venv"\n',
        "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files["tinypkg-1.0.dist-info/RECORD"] = "\n".join([*record, "tinypkg-1.0.dist-info/RECORD,,"])
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return path


def _venv_app(tmp: Path, *, with_library: bool) -> Path:
    """An app folder whose `.venv` has tinypkg (installed with pip) and, `with_library`,
    azure-functions and its dependency (linked from this environment, to stay offline)."""
    app = tmp / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text(TINY_APP)
    venv = app / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--no-deps", "--quiet", str(_wheel(tmp))],
        check=True,
    )  # fmt: skip
    if with_library:
        deps = tmp / "deps"
        (deps / "azure").mkdir(parents=True)
        (deps / "azure" / "functions").symlink_to(SITE / "azure" / "functions")
        for name in ("werkzeug", "markupsafe"):
            (deps / name).symlink_to(SITE / name)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        Path(site, "deps.pth").write_text(str(deps) + "\n")
    return app


def test_the_apps_venv_runs_the_app(tmp_path: Path, storage_connection_string: str) -> None:
    assert importlib.util.find_spec("tinypkg") is None  # funchost's environment lacks it
    app = _venv_app(tmp_path, with_library=True)
    # An activated environment elsewhere does not win over the app's own .venv.
    proc = HostProcess(
        app,
        env={"AzureWebJobsStorage": storage_connection_string, "VIRTUAL_ENV": sys.prefix},
        args=["--no-auth"],
    )
    proc.start()
    try:
        python = re.escape(str(app / ".venv" / "bin" / "python"))
        assert re.search(rf"The app runs in 1 worker process\(es\) with {python} "
                         r"\(Python [\d.]+, the app's \.venv\)", proc.output())  # fmt: skip
        reply = httpx.get(f"{proc.url}/api/tiny", timeout=30)
        assert (reply.status_code, reply.text) == (200, "from the app venv")
    finally:
        proc.stop()
    # `funchost list` indexes the app in its interpreter too.
    listed = subprocess.run(
        [sys.executable, "-m", "funchost", "list", "--json", "--app-dir", str(app)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert [f["name"] for f in json.loads(listed)["functions"]] == ["tiny"]


def test_an_interpreter_without_azure_functions_gets_the_pip_line(
    tmp_path: Path, storage_connection_string: str
) -> None:
    app = _venv_app(tmp_path, with_library=False)
    python = app / ".venv" / "bin" / "python"
    pip_line = f"install it in the app's environment: {python} -m pip install azure-functions"
    env = {"AzureWebJobsStorage": storage_connection_string}
    # As any app that cannot load: the host stays up without functions, saying why ...
    proc = HostProcess(app, env=env)
    proc.start()
    try:
        assert pip_line in proc.output()
    finally:
        proc.stop()
    # ... or, with --strict (CI), does not start.
    with pytest.raises(ServiceStartError) as failed:
        HostProcess(app, env=env, args=["--strict"]).start()
    assert pip_line in str(failed.value)


def test_in_process_flag_runs_the_app_in_the_host(storage_connection_string: str) -> None:
    proc = HostProcess(
        APP,
        env={"AzureWebJobsStorage": storage_connection_string, "Q_HOLD": "unused-hold"},
        args=["--no-auth", "--in-process"],
    )
    proc.start()
    try:
        assert "worker process" not in proc.output()
        assert httpx.get(f"{proc.url}/api/pid", timeout=30).text == str(proc.pid)
    finally:
        proc.stop()


def _pool(environ: dict[str, str], only: str) -> tuple[WorkerPool, FunctionSpec]:
    config = HostConfig.load(APP, environ)
    interpreter = Interpreter(Path(sys.executable), "the test's")
    pool = WorkerPool(PoolSettings(interpreter, 1, config, only, logging.INFO, environ))
    spec = pool.start().get(only)
    assert spec is not None
    return pool, spec


def test_only_a_timeout_or_the_stop_ends_a_worker_cut_short() -> None:
    pool, spec = _pool(dict(os.environ), "nap")
    timer = Datum('{"IsPastDue": false}', "json")

    async def cut_short() -> tuple[int, int, bool]:
        stopping = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(pool.run, os.environ, stopping)
            (worker,) = pool._workers
            with anyio.move_on_after(0.2):  # not functionTimeout: the worker goes on
                await pool(spec, Invocation(spec, timer, "t"), {})
            await anyio.sleep(0.3)
            alive = worker.alive and worker.proc.poll() is None
            token = timeout_deadline.set(anyio.current_time() + 0.2)  # as functionTimeout
            try:
                with anyio.move_on_after(0.2):
                    await pool(spec, Invocation(spec, timer, "t"), {})
            finally:
                timeout_deadline.reset(token)
            await worker.read()  # it ends, and is restarted
            with anyio.fail_after(30):
                while pool._workers[0] is worker or not pool._workers[0].alive:
                    await anyio.sleep(0.05)
            pids = worker.pid, pool._workers[0].pid
            stopping.set()
            tg.cancel_scope.cancel()
        return (*pids, alive)

    first, second, alive_after_other_cancel = anyio.run(cut_short)
    assert alive_after_other_cancel
    assert first != second  # the timeout restarted it


def test_settings_changed_after_the_workers_started_reach_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `funchost dev` points connections at the emulators it starts after the app was
    # indexed: the workers started before that must run with the new settings.
    environ = {**os.environ, "FUNCHOST_TEST_SETTING": "before", "FUNCHOST_GONE": "x"}
    pool, spec = _pool(environ, "show_setting")
    later = {**environ, "FUNCHOST_TEST_SETTING": "after"}
    later.pop("FUNCHOST_GONE")

    async def call_once() -> None:
        stopping = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(pool.run, later, stopping)
            await pool(spec, Invocation(spec, Datum('{"IsPastDue": false}', "json"), "t"), {})
            stopping.set()
            tg.cancel_scope.cancel()

    with caplog.at_level(logging.INFO):
        anyio.run(call_once)
    assert "setting=after" in caplog.messages


# -- --reload ---------------------------------------------------------------------------------
RELOAD_APP = '''
import azure.functions as func

import helper

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="version")
def version(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(helper.VERSION)
'''


def _wait_count(proc: HostProcess, text: str, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while proc.output().count(text) < count:
        assert time.monotonic() < deadline, proc.output()[-3000:]
        time.sleep(0.05)


def test_reload_after_an_edit_and_after_a_broken_edit(
    tmp_path: Path, storage_connection_string: str
) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text(RELOAD_APP)
    helper = tmp_path / "helper.py"
    helper.write_text('VERSION = "one"\n')
    proc = HostProcess(
        tmp_path, env={"AzureWebJobsStorage": storage_connection_string}, args=["--reload"]
    )
    proc.start()
    url = f"{proc.url}/api/version"
    try:
        assert httpx.get(url, timeout=30).text == "one"
        helper.write_text('VERSION = "two"\n')
        _wait_count(proc, "Reloaded the app in 1 worker process(es)", 1)
        assert "The app changed (helper.py): reloading the worker processes" in proc.output()
        assert httpx.get(url, timeout=30).text == "two"
        # A broken edit is reported; the previous version keeps answering.
        helper.write_text('VERSION = ("three"\n')
        _wait_count(proc, "The app cannot be reloaded; the previous version keeps running", 1)
        assert re.search(r"helper\.py:1: cannot import the app: SyntaxError", proc.output())
        assert httpx.get(url, timeout=30).text == "two"
        # The next good edit recovers.
        helper.write_text('VERSION = "four"\n')
        _wait_count(proc, "Reloaded the app in 1 worker process(es)", 2)
        assert httpx.get(url, timeout=30).text == "four"
        assert proc.returncode is None
    finally:
        proc.stop()


def test_the_test_harness_runs_worker_processes_on_request(storage_connection_string: str) -> None:
    settings = {
        "AzureWebJobsStorage": storage_connection_string,
        "Q_HOLD": "unused-" + uuid.uuid4().hex[:12],
        "PYTHON_THREADPOOL_THREAD_COUNT": "1",
    }
    with Harness(APP, settings=settings, workers=2) as host:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda _: host.get("/api/sleep?s=0.5"), range(2)))
        pids = {r.text for r in replies}
        assert len(pids) == 2 and str(os.getpid()) not in pids
        assert len(host.invocations("sleep")) == 2


HELLO = '''import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
'''

BYE = '''

@app.route(route="bye")
def bye(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("bye")
'''


def test_reload_restarts_the_host_once_a_broken_app_loads_and_for_new_functions(
    tmp_path: Path, storage_connection_string: str
) -> None:
    """What the worker processes cannot take by themselves (an app that could not be
    loaded at start, new functions) restarts the host on the same port, as Core Tools
    restarts its host on a change."""
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    app = tmp_path / "function_app.py"
    app.write_text(HELLO.replace('"hello")', '"hello"'))  # a SyntaxError
    proc = HostProcess(
        tmp_path, env={"AzureWebJobsStorage": storage_connection_string}, args=["--reload"]
    )
    proc.start()
    try:
        assert "the host restarts when one of its Python files changes (--reload)" in (
            proc.output()
        )
        assert httpx.get(f"{proc.url}/api/hello", timeout=30).status_code == 404
        app.write_text(HELLO)
        _wait_count(proc, "Host started in", 2)
        assert "The app changed (function_app.py): restarting the host" in proc.output()
        assert httpx.get(f"{proc.url}/api/hello", timeout=30).text == "hello"

        app.write_text(HELLO + BYE)
        _wait_count(proc, "Host started in", 3)
        assert (
            "The app's functions or their triggers and bindings changed: restarting the host"
            in proc.output()
        )
        assert httpx.get(f"{proc.url}/api/bye", timeout=30).text == "bye"
        assert httpx.get(f"{proc.url}/api/hello", timeout=30).text == "hello"

        # host.json is the host's: a change restarts it; one it cannot read waits for a fix.
        (tmp_path / "host.json").write_text('{"version": "2.0", "functionTimeout": ')
        _wait_count(proc, "The host cannot start until the app changes", 1)
        assert "The app changed (host.json): restarting the host" in proc.output()
        assert re.search(r"host\.json:\d+:\d+: invalid JSON", proc.output())
        (tmp_path / "host.json").write_text('{"version": "2.0", "functionTimeout": "00:01:00"}')
        _wait_count(proc, "Host started in", 4)
        assert httpx.get(f"{proc.url}/api/bye", timeout=30).text == "bye"
        assert proc.returncode is None
    finally:
        proc.stop()
