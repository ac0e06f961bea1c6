"""The thread pool a worker process runs sync functions in: up to
PYTHON_THREADPOOL_THREAD_COUNT threads, as the real worker's ThreadPoolExecutor, with one
difference for functions whose calls are short.

Python's ThreadPoolExecutor wakes a thread for every job. For functions that block (I/O,
sleep: the usual sync function) that is what they need. For a burst of short calls (a
Service Bus batch of no-ops) six threads and the event loop then take turns on the GIL,
each turn a context switch: a sync no-op Service Bus function ran at 2,250-2,560 msg/s on
six threads and ~2,800 on one (bench/servicebus_trigger.py, 2 cores).

So `submit` hands the job to a thread at once (woken, or started below the limit), as
ThreadPoolExecutor does, and `submit_short`, for a function whose recent calls took less
than SHORT_SECONDS (`CallTimes`), lets the job wait for a thread that is about to be free:
one woken for a job, or in a short job it began less than GROW_AFTER_SECONDS ago. A
watcher gives jobs that waited that long a thread anyway (one more per GROW_AFTER_SECONDS
while such a thread makes progress; one each once none does), so a short function that
blocks this once, or waits on another job, still gets its thread. Idle threads are woken
last-idle-first; once started, threads stay (the worker process ends with os._exit).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

# A call this short is the CPU work of a small function, not a wait (a no-op takes ~70 us
# in the worker, a 1 ms sleep ~1.1 ms).
SHORT_SECONDS = 0.0005
# Longer than a burst of short calls takes on a busy machine (eight no-ops ~1 ms). At 2 ms
# threads were added ~35 times a second in the no-op bench (2,370-2,590 msg/s, against
# 2,620-2,980 at 5 ms).
GROW_AFTER_SECONDS = 0.005


class CallTimes:
    """How long each function's recent calls took (a moving average of wall time)."""

    WEIGHT = 0.25  # of the newest call

    def __init__(self) -> None:
        self._average: dict[str, float] = {}

    def record(self, name: str, seconds: float) -> None:
        # A race between threads loses one sample at worst.
        before = self._average.get(name, seconds)
        self._average[name] = before + (seconds - before) * self.WEIGHT

    def short(self, name: str) -> bool:
        """Whether the function's calls are short (False until one has been timed)."""
        return self._average.get(name, SHORT_SECONDS) < SHORT_SECONDS


@dataclass
class _Job:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    short: bool
    queued: float = 0.0  # set under the pool's lock

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - the caller gets it, as from the executor
            self.future.set_exception(exc)
            # The exception's traceback holds this frame: without this, the job and its
            # arguments would live until the garbage collector finds the cycle.
            self = None  # type: ignore[assignment]  # noqa: PLW0642
        else:
            self.future.set_result(result)


@dataclass(eq=False)
class _Worker:
    # Held while the thread is idle; released to hand it work (a one-shot signal).
    signal: threading.Lock = field(default_factory=threading.Lock)
    job: _Job | None = None  # handed to this thread alone (`submit`), not queued


class SyncPool(Executor):
    def __init__(self, max_threads: int, name: str, grow_after: float = GROW_AFTER_SECONDS) -> None:
        if max_threads < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {max_threads}")
        self._max = max_threads
        self._name = name
        self._grow_after = grow_after
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._threads: list[threading.Thread] = []
        self._idle: list[_Worker] = []  # the last to go idle is woken first
        # Threads about to take the next job: woken for one, or in a short job; since when.
        self._soon: dict[_Worker, float] = {}
        self._check_at: float | None = None  # when the watcher looks at waiting jobs again
        self._watcher = threading.Condition(self._lock)
        self._watching = False
        self._shutdown = False

    @property
    def threads(self) -> int:
        """The threads started so far."""
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run the job on a thread of its own as soon as one is free (below the limit, at
        once), as ThreadPoolExecutor does."""
        return self._submit(_Job(Future(), fn, args, kwargs, False))

    def submit_short(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a job expected to be short: on a thread about to be free, if there is one."""
        return self._submit(_Job(Future(), fn, args, kwargs, True))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Finish the jobs taken (and, unless cancel_futures, those waiting); then the
        threads end. `wait`: return only once they have."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._jobs:
                    self._jobs.popleft().future.cancel()
            else:  # the watcher ends now: what waits gets its threads at once
                self._add(len(self._jobs), time.monotonic())
            for thread in self._idle:
                thread.signal.release()
            self._idle.clear()
            self._watcher.notify()
        if wait:
            for runner in list(self._threads):
                runner.join()

    def _submit(self, job: _Job) -> Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new jobs after the pool shut down")
            job.queued = time.monotonic()
            if job.short:
                self._jobs.append(job)
                self._assign(job.queued)
            elif self._idle:  # the job goes to the thread woken for it, not to the queue,
                thread = self._idle.pop()  # whose head may be a short job that waits
                thread.job = job
                thread.signal.release()
            elif len(self._threads) < self._max:
                self._start(None, job)
            else:
                self._jobs.append(job)  # at the limit: a thread that finishes takes it
        return job.future

    # -- with the lock held ------------------------------------------------------------------
    def _assign(self, now: float) -> None:
        """Give waiting jobs more threads unless a thread will take them soon."""
        if not self._jobs or not (self._idle or len(self._threads) < self._max):
            return
        recent = [t for t in self._soon.values() if now - t < self._grow_after]
        if not recent:  # every thread is in a long job (or none runs): one each, at once
            self._add(len(self._jobs), now)
            return
        waited = now - self._jobs[0].queued
        if waited >= self._grow_after:  # the threads make progress, but not fast enough
            self._add(1, now)
            self._check(now + self._grow_after)
        else:
            self._check(min(max(recent), self._jobs[0].queued) + self._grow_after)

    def _add(self, count: int, now: float) -> None:
        """Hand work to `count` more threads (woken, or started below the limit)."""
        for _ in range(count):
            if self._idle:
                thread = self._idle.pop()
                self._soon[thread] = now
                thread.signal.release()
            elif len(self._threads) < self._max:
                self._start(now)
            else:
                return  # at the limit: a thread that finishes takes the rest

    def _start(self, now: float | None, job: _Job | None = None) -> None:
        """Start a thread: with its own `job`, or for the queue's (`now`: since when)."""
        thread = _Worker(job=job)
        thread.signal.acquire()
        if now is not None:
            self._soon[thread] = now
        name = f"{self._name}_{len(self._threads)}"
        runner = threading.Thread(target=self._work, args=(thread,), name=name, daemon=True)
        self._threads.append(runner)
        runner.start()

    def _check(self, at: float) -> None:
        if self._check_at is not None and self._check_at <= at:
            return
        self._check_at = at
        if self._watching:
            self._watcher.notify()
        else:
            self._watching = True
            watcher = threading.Thread(target=self._watch, name=f"{self._name}-watch")
            watcher.daemon = True
            watcher.start()

    # -- threads -----------------------------------------------------------------------------
    def _work(self, me: _Worker) -> None:
        handed = True  # started or woken: its first job keeps the time it was handed work
        while True:
            with self._lock:
                job, me.job = me.job, None
                if job is None and self._jobs:
                    job = self._jobs.popleft()
                if job is not None and job.short:
                    if not (handed and me in self._soon):
                        self._soon[me] = time.monotonic()
                else:
                    self._soon.pop(me, None)
                    if job is None:
                        if self._shutdown:
                            return
                        self._idle.append(me)
                handed = False
            if job is None:
                me.signal.acquire()  # until handed work (or shut down)
                handed = True
            else:
                job.run()
                del job  # not kept alive while idle

    def _watch(self) -> None:
        """Sleep until the next check; then give jobs still waiting their threads."""
        with self._lock:
            while not self._shutdown:
                if self._check_at is None:
                    self._watcher.wait()
                    continue
                now = time.monotonic()
                if now < self._check_at:
                    self._watcher.wait(self._check_at - now)
                    continue
                self._check_at = None
                self._assign(now)
