"""The worker process's main, run in the app's interpreter by the host:
`python -m funchost.workers.worker FD FUNCTIONS LOG_LEVEL`, started in the app folder.

It checks the interpreter can run the app (Python 3.10+, `azure-functions` installed),
indexes the app as the host would, sends the host its functions (HELLO) or why it cannot
(FATAL), then serves invocations until the host closes the socket. Only the standard
library is imported before those checks, so a bad interpreter gets a clear message.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import traceback
from typing import Any

from funchost.workers import frames

MIN_PYTHON = (3, 10)


def main(argv: list[str]) -> None:
    fd, only, level = int(argv[1]), argv[2], int(argv[3])
    sock = socket.socket(fileno=fd)
    # Ctrl-C in a terminal (and a stop sent to the process group) reach the workers too:
    # the host drains, then stops its workers by closing their sockets; a worker that died
    # at once would fail what is still running.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_host()
    problem = _unfit()
    if problem is not None:
        sock.sendall(frames.encode((frames.FATAL, problem)))
        return
    from funchost.core.memory import freeze_startup_objects
    from funchost.workers.session import Session, index

    try:
        config = frames.read_blocking(sock)
        if config is None or config[0] != frames.CONFIG:
            return  # the host went away
        app = index(config[1], only, level, sock)
    except Exception as exc:  # noqa: BLE001 - every reason the app cannot load goes to the host
        sock.sendall(frames.encode((frames.FATAL, _describe(exc))))
        return
    version = ".".join(map(str, sys.version_info[:3]))
    sock.sendall(frames.encode((frames.HELLO, os.getpid(), version, app.portable, app.errors)))
    freeze_startup_objects()
    Session(sock, app).serve()


def _die_with_host() -> None:
    """A host that was killed cannot close the socket of a worker whose event loop is stuck
    in user code: on Linux, the kernel ends the worker with its host (the host starts its
    workers from its main thread, which lives as long as it does)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
    if os.getppid() == 1:  # the host died before that
        os._exit(0)


def _unfit() -> str | None:
    """Why this interpreter cannot run the app (None when it can)."""
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        return (
            f"{sys.executable} is Python {found}; the app's worker needs Python "
            f"{'.'.join(map(str, MIN_PYTHON))} or later"
        )
    try:
        import azure.functions  # noqa: F401 - only whether it imports
    except ImportError as exc:
        return (
            f"{sys.executable} cannot import azure.functions ({exc}); install it in the "
            f"app's environment: {sys.executable} -m pip install azure-functions"
        )
    return None


def _describe(exc: BaseException) -> str:
    from funchost.errors import HostError

    if isinstance(exc, HostError):
        return str(exc)
    return "the worker cannot load the app:\n" + "".join(traceback.format_exception(exc))


def _run(argv: list[str]) -> Any:
    code = 0
    try:
        main(argv)
    except BaseException:  # noqa: BLE001 - a bug here: say it, then end as below
        traceback.print_exc()
        code = 1
    finally:
        # Threads still running user code are abandoned: the host stopped this worker.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _run(sys.argv)
