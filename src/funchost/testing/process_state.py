"""What a harness changes in the test process while its host runs, and the undo of each:
the app's settings in os.environ (a worker has them there), log capture, the app's modules,
and (when asked) the working directory.

Several harnesses may run at once and stop in any order: a setting is put back only if
it still holds the value this harness set, and the root logger's level is lowered while
any harness runs and restored when the last one stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

# The SDKs log every request at INFO: kept at WARNING while a host runs.
_QUIET = ("azure", "uamqp", "uvicorn", "uvicorn.error")


class _Levels:
    """Logger levels while any harness captures: lowered by the first, restored by the
    last (harnesses stop in any order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: dict[str, int] = {}

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                root = logging.getLogger()
                self._saved[""] = root.level
                if root.getEffectiveLevel() > logging.INFO:
                    root.setLevel(logging.INFO)
                for name in _QUIET:
                    logger = logging.getLogger(name)
                    self._saved[name] = logger.level
                    if logger.level == logging.NOTSET:
                        logger.setLevel(logging.WARNING)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for name, level in self._saved.items():
                    logging.getLogger(name or None).setLevel(level)
                self._saved.clear()


_levels = _Levels()


class _WorkingDirectory:
    """The process's one working directory, held by harnesses that asked for their app
    folder: the first changes to it, others may hold the same folder, another folder is
    refused (a process has one), and the last to let go puts the caller's back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._folder = ""
        self._saved = ""

    def acquire(self, folder: Path) -> None:
        wanted = os.path.realpath(folder)  # as os.getcwd() will name it
        with self._lock:
            if self._holders and wanted != self._folder:
                raise RuntimeError(
                    f"cannot make {wanted} the working directory: a running harness holds "
                    f"{self._folder} (a process has one working directory; start that app's "
                    "harness without working_dir=True, or stop the other first)"
                )
            if not self._holders:
                self._saved = str(Path.cwd())
                os.chdir(wanted)
                self._folder = wanted
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and str(Path.cwd()) == self._folder:
                os.chdir(self._saved)  # unless the test moved elsewhere since


_cwd = _WorkingDirectory()


def enter_directory(folder: Path) -> Callable[[], None]:
    """Make `folder` the working directory, as the real host starts its worker in the app
    folder (H `Workers/Rpc/RpcWorkerProcess.cs`: the worker context's working directory is
    the script root); the undo. RuntimeError when another harness holds another folder."""
    _cwd.acquire(folder)
    return _cwd.release


def set_environ(values: Mapping[str, str]) -> Callable[[], None]:
    """Set `values` in os.environ; the undo (which leaves a value someone changed since)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)

    def undo() -> None:
        for key, value in saved.items():
            if os.environ.get(key) != values[key]:
                continue  # changed since (another harness): not ours to put back
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    return undo


def capture_logs(handler: logging.Handler) -> Callable[[], None]:
    """Add `handler` to the root logger, with INFO records let through while any harness
    runs; the undo."""
    root = logging.getLogger()
    _levels.acquire()
    root.addHandler(handler)

    def undo() -> None:
        root.removeHandler(handler)
        _levels.release()

    return undo


@contextlib.contextmanager
def app_modules(app_dir: Path) -> Iterator[Callable[[], None]]:
    """Around the app's import: yields the undo that forgets the modules the import
    brought in from the app folder (and the folder on sys.path, if the loader added it),
    so the next app with its own `function_app.py` or `functions` package imports its own."""
    before = dict(sys.modules)
    had_path = str(app_dir) in sys.path
    added: list[str] = []

    def forget() -> None:
        for name in added:
            sys.modules.pop(name, None)
        if not had_path:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(app_dir))

    try:
        yield forget
    finally:
        # New names, and names now bound to another module (a `function_app` of an app
        # loaded before replaced by this one).
        added.extend(
            name
            for name, module in list(sys.modules.items())
            if before.get(name) is not module
            and _is_under(getattr(module, "__file__", None), app_dir)
        )


def _is_under(path: str | None, root: Path) -> bool:
    if not path:
        return False
    with contextlib.suppress(ValueError):
        Path(path).resolve().relative_to(root)
        return True
    return False
