"""One worker process, seen from the host: started with the app's interpreter on one end of
a socket pair, indexed (HELLO), then sent invocations and read for their results and log
records until it exits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions.meta import Datum

from funchost.config.host_config import HostConfig
from funchost.core.invocation import builtin_kind
from funchost.core.logs import current_function, current_invocation
from funchost.core.spec import FunctionSpec
from funchost.errors import AppLoadError
from funchost.workers import frames
from funchost.workers.interpreter import Interpreter

frames.pickle_compactly(Datum)


class WorkerExited(Exception):
    """The worker process running the invocation exited before it finished."""


@dataclass(frozen=True)
class Launch:
    """How to start a worker process."""

    python: Interpreter
    config: HostConfig  # the app folder's, sent to the worker (it reads no file of the host's)
    only: str  # comma-separated function names, "" for all
    log_level: int
    environ: Mapping[str, str]
    path: str  # a folder holding only funchost, put first on the worker's PYTHONPATH


@dataclass(frozen=True)
class Hello:
    pid: int
    python_version: str
    specs: tuple[FunctionSpec, ...]
    errors: tuple[tuple[str, str], ...]  # (function, reason) of those that cannot load


def spawn(launch: Launch) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start a worker process; its socket (blocking) on the host's side."""
    host_end, worker_end = socket.socketpair()
    env = dict(launch.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (launch.path, env.get("PYTHONPATH")) if p)
    argv = [str(launch.python.path), *launch.python.arguments, "-m", "funchost.workers.worker"]
    argv.append(str(worker_end.fileno()))
    argv += [launch.only, str(launch.log_level)]
    try:
        proc = subprocess.Popen(
            argv, pass_fds=(worker_end.fileno(),), env=env, cwd=launch.config.app_dir
        )
    except OSError as exc:
        host_end.close()
        raise AppLoadError(
            f"cannot start a worker process with {launch.python.path}: {exc}"
        ) from None
    finally:
        worker_end.close()
    with contextlib.suppress(OSError):  # a worker that exited at once: the handshake says why
        host_end.sendall(frames.encode((frames.CONFIG, launch.config)))
    return proc, host_end


def handshake(sock: socket.socket, timeout: float) -> Hello:
    """Wait (blocking) for the worker's index; AppLoadError says why it cannot run the app."""
    sock.settimeout(timeout)
    try:
        while True:
            message = frames.read_blocking(sock)
            if message is None:
                raise AppLoadError(
                    "the worker process exited before it loaded the app (its output is above)"
                )
            kind = message[0]
            if kind == frames.LOG:
                emit_log(message)
            elif kind == frames.FATAL:
                raise AppLoadError(message[1])
            elif kind == frames.HELLO:
                _, pid, version, specs, errors = message
                return Hello(pid, version, tuple(specs), tuple(errors))
    except TimeoutError:
        raise AppLoadError(
            f"the worker process did not load the app within {timeout:.0f}s"
        ) from None
    finally:
        sock.settimeout(None)


def emit_log(message: tuple[Any, ...]) -> None:
    """A worker's log record, logged here as the host's, in its invocation's context."""
    _, levelno, name, text, invocation_id, function, created = message
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(levelno):
        return
    record = logger.makeRecord(name, levelno, "", 0, text, (), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    tokens = current_invocation.set(invocation_id), current_function.set(function)
    try:
        logger.handle(record)
    finally:
        current_function.reset(tokens[1])
        current_invocation.reset(tokens[0])


_CALL_IDS = itertools.count(1)
log = logging.getLogger("funchost.workers")


class WorkerProcess:
    """A worker process that indexed the app; `attach()` on the event loop before use."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, hello: Hello) -> None:
        self.proc = proc
        self.pid = hello.pid
        self.hello = hello
        self.retired = False  # replaced by a reload: not restarted when it exits
        self._sock = sock
        self._pending: dict[int, asyncio.Future[dict[str, Datum]]] = {}
        self._idle: asyncio.Event | None = None  # made by a waiter, set when nothing runs
        self.alive = False
        self._transport: asyncio.Transport | None = None
        self._ended: asyncio.Event | None = None

    @property
    def busy(self) -> int:
        return len(self._pending)

    async def attach(self) -> None:
        self._ended = asyncio.Event()
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: frames.FrameProtocol(self._received, self._end), self._sock
        )
        self._transport = transport
        self.alive = True

    def send(self, message: tuple[Any, ...]) -> None:
        assert self._transport is not None
        self._transport.write(frames.encode(message))

    async def call(self, message: tuple[Any, ...]) -> dict[str, Datum]:
        """Send an INVOKE (its call id is filled in) and wait for its result. Raises the
        WorkerException of a failure, or WorkerExited."""
        assert self._transport is not None
        call_id = next(_CALL_IDS)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._transport.write(frames.encode((message[0], call_id, *message[1:])))
            results: dict[str, Datum] = await future
            return results
        finally:
            self._pending.pop(call_id, None)
            if not self._pending and self._idle is not None:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no invocation runs here."""
        while self._pending:
            self._idle = asyncio.Event()
            await self._idle.wait()

    async def read(self) -> None:
        """Return once the worker closed the socket (it exited) or sent what this host
        cannot read (then it is ended: the conversation is out of step)."""
        assert self._ended is not None
        await self._ended.wait()

    def _received(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == frames.LOG:
            emit_log(message)
            return
        future = self._pending.get(message[1])
        if future is None or future.done():
            return  # cut short by a timeout: nobody waits for it any more
        if kind == frames.DONE:
            future.set_result(message[2])
        elif kind == frames.FAILED:
            future.set_exception(builtin_kind(message[2]))

    def _end(self, error: BaseException | None) -> None:
        self.alive = False
        if error is not None:
            log.error("Cannot read a message from the worker process (pid %d): %s", self.pid, error)
            self.kill()
        assert self._ended is not None
        self._ended.set()

    def fail_all(self, error: BaseException) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def close(self) -> None:
        """Close the socket: the worker exits when it reads the end of the stream."""
        self.alive = False
        if self._transport is not None:
            self._transport.close()
        else:
            self._sock.close()

    def how_it_ended(self) -> str:
        """After `read()` returned: the exit code or the signal, once the process ended."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"was killed by {name}"
        return f"exited with code {code}"
