"""The thread pool a worker process runs sync functions in: up to
PYTHON_THREADPOOL_THREAD_COUNT threads, like the real worker's, but a job waits for a
thread that is already running rather than waking another, unless every running thread
has been in its current job for GROW_AFTER_SECONDS. Short functions then run on one or two
threads instead of every thread fighting for the GIL over each burst: a sync no-op Service
Bus function ran at 2,370-2,460 msg/s on 6 threads of Python's ThreadPoolExecutor and
2,810-2,960 on one (bench/servicebus_trigger.py, 2 cores). Functions that block (I/O,
sleep) still get up to the maximum, each extra thread after that wait; threads, once
started, stay.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

GROW_AFTER_SECONDS = 0.02


class ElasticPool(Executor):
    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._jobs: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # idle threads wait here for a job
        self._watch_cond = threading.Condition(lock)  # the watcher's pauses
        self._threads = 0
        self._idle = 0  # threads waiting for a job and not yet woken for one
        self._waking = 0  # threads woken for a job that have not taken it yet
        self._watching = False  # the thread that adds threads for waiting jobs runs
        self._busy_since: dict[int, float] = {}  # thread id -> when its current job began

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            return self.submit(lambda: fn(*args, **kwargs))
        future: Future[Any] = Future()
        with self._cond:
            self._jobs.append((future, fn, args))
            if self._idle:
                self._idle -= 1
                self._waking += 1
                self._cond.notify()
            elif self._threads == 0:
                self._start_locked()
            elif self._threads < self._max and not self._watching:
                self._watching = True
                watcher = threading.Thread(target=self._watch, name=f"{self._name}-watch")
                watcher.daemon = True
                watcher.start()
        return future

    def _start_locked(self) -> None:
        self._threads += 1
        name = f"{self._name}_{self._threads - 1}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            with self._cond:
                self._busy_since.pop(me, None)
                while not self._jobs:
                    self._idle += 1
                    self._cond.wait()  # returns only when notified (no timeout)
                    self._waking -= 1
                future, fn, args = self._jobs.popleft()
                self._busy_since[me] = time.monotonic()
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - the caller gets it
                    future.set_exception(exc)
                else:
                    future.set_result(result)

    def _watch(self) -> None:
        """While jobs wait and fewer than the maximum threads run, add a thread whenever
        every running one has been in its current job for GROW_AFTER_SECONDS."""
        with self._watch_cond:
            while self._threads < self._max:
                if not self._jobs:
                    self._watch_cond.wait(GROW_AFTER_SECONDS)
                    if not self._jobs:
                        break
                    continue
                # Every thread has been in its current job for GROW_AFTER_SECONDS: they
                # block (or compute) for long, and the waiting job needs one more.
                newest = max(self._busy_since.values(), default=0.0)
                waited = time.monotonic() - newest
                if waited >= GROW_AFTER_SECONDS and not (self._idle or self._waking):
                    self._start_locked()
                    waited = 0.0
                self._watch_cond.wait(max(GROW_AFTER_SECONDS - waited, GROW_AFTER_SECONDS / 5))
            self._watching = False
