"""The worker's pool for sync functions (funchost.workers.sync_pool): jobs get a thread
each up to the limit, as with ThreadPoolExecutor; jobs of short functions share a thread;
nothing waits forever."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import CancelledError, wait

import pytest

from funchost.workers.sync_pool import GROW_AFTER_SECONDS, SHORT_SECONDS, CallTimes, SyncPool


@pytest.fixture
def pool() -> Iterator[SyncPool]:
    p = SyncPool(6, "test-pool")
    yield p
    p.shutdown(wait=True, cancel_futures=True)


def test_results_and_exceptions_reach_the_caller(pool: SyncPool) -> None:
    assert pool.submit(lambda a, b=0: a + b, 2, b=3).result(timeout=5) == 5

    def fails() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        pool.submit(fails).result(timeout=5)


def test_threads_are_named_after_the_pool(pool: SyncPool) -> None:
    assert pool.submit(lambda: threading.current_thread().name).result(5) == "test-pool_0"


def test_submit_gives_each_job_a_thread_at_once_and_submit_short_waits() -> None:
    gate = threading.Event()
    pool = SyncPool(6, "at-once", grow_after=60.0)  # the watcher would not add any
    futures = [pool.submit(gate.wait, 5) for _ in range(8)]
    assert pool.threads == 6  # as ThreadPoolExecutor: up to the limit, the rest wait
    gate.set()
    wait(futures, timeout=5)
    pool.shutdown()

    gate.clear()
    pool = SyncPool(6, "short", grow_after=60.0)
    futures = [pool.submit_short(gate.wait, 5) for _ in range(8)]
    assert pool.threads == 1  # the rest wait for the thread in its (short, so far) job
    gate.set()
    wait(futures, timeout=5)
    assert all(f.result() for f in futures)
    pool.shutdown()


def test_a_burst_of_short_jobs_shares_a_thread() -> None:
    # ThreadPoolExecutor starts a thread per job while none is idle: six for this burst.
    # (A long grow time: a busy machine that stalls the thread 5 ms would add threads.)
    pool = SyncPool(6, "bursts", grow_after=1.0)
    for _ in range(20):
        futures = [pool.submit_short(sum, range(100)) for _ in range(8)]
        wait(futures, timeout=5)
        assert all(f.result() == 4950 for f in futures)
    pool.shutdown()
    assert pool.threads == 1


def test_jobs_that_block_run_concurrently_up_to_the_limit() -> None:
    pool = SyncPool(3, "limited")
    running = peak = 0
    lock = threading.Lock()

    def blocks() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1

    began = time.monotonic()
    wait([pool.submit(blocks) for _ in range(6)], timeout=10)
    took = time.monotonic() - began
    pool.shutdown()
    assert peak == 3
    assert pool.threads == 3
    assert took < 0.2 * 6 / 2  # two rounds of three (0.4 s), not six in a row (1.2 s)


def test_a_job_waiting_on_a_later_job_gets_a_thread(pool: SyncPool) -> None:
    # With every job kept on the busy thread, the first would wait for the second forever.
    ready = threading.Event()
    first = pool.submit_short(ready.wait, 5)
    second = pool.submit_short(ready.set)
    assert first.result(timeout=5) is True
    second.result(timeout=5)


def test_jobs_shorter_than_the_grow_time_still_get_more_threads_when_they_queue(
    pool: SyncPool,
) -> None:
    # Each job blocks for less than GROW_AFTER_SECONDS, so the busy thread always looks
    # as if it will take the next job soon; the queue's oldest job waiting is what adds one.
    step = GROW_AFTER_SECONDS * 0.6
    futures = [pool.submit_short(time.sleep, step) for _ in range(20)]
    wait(futures, timeout=10)
    assert pool.threads >= 2


def test_an_idle_pool_wakes_the_thread_that_went_idle_last(pool: SyncPool) -> None:
    barrier = threading.Barrier(3)
    names = [pool.submit(lambda: (barrier.wait(5), threading.current_thread().name)[1])
             for _ in range(3)]  # fmt: skip
    assert len({f.result(timeout=5) for f in names}) == 3
    time.sleep(0.05)  # all three idle again
    used = {pool.submit(lambda: threading.current_thread().name).result(5) for _ in range(10)}
    assert len(used) == 1


def test_shutdown_runs_what_waits_or_cancels_it() -> None:
    pool = SyncPool(1, "finishing")
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    queued = pool.submit(lambda: "ran")
    gate.set()
    pool.shutdown(wait=True)
    assert first.result(0) is True and queued.result(0) == "ran"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(print)

    pool = SyncPool(1, "cancelling")
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    time.sleep(0.05)  # the thread took the first job
    queued = pool.submit(lambda: "ran")
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    with pytest.raises(CancelledError):
        queued.result(5)
    assert first.result(5) is True


def test_at_least_one_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        SyncPool(0, "none")


def test_call_times_say_short_only_after_short_calls() -> None:
    times = CallTimes()
    assert not times.short("f")  # not timed yet: each job gets its thread
    times.record("f", SHORT_SECONDS / 5)
    assert times.short("f") and not times.short("g")
    times.record("f", 0.010)  # one call that waited: the next ones get threads at once
    assert not times.short("f")
    for _ in range(20):
        times.record("f", SHORT_SECONDS / 5)
    assert times.short("f")


def test_a_job_from_submit_does_not_wait_behind_a_short_one() -> None:
    # The thread woken for it takes it, not the queue's head (a short job that waits for
    # the busy thread and here blocks): it runs at once, as on ThreadPoolExecutor.
    pool = SyncPool(6, "handed", grow_after=60.0)
    gate, done = threading.Event(), threading.Event()
    pool.submit_short(gate.wait, 5)
    pool.submit_short(gate.wait, 5)  # waits for the first thread (60 s grow time)
    pool.submit(done.set)
    try:
        assert done.wait(2)
    finally:
        gate.set()
        pool.shutdown()


def test_shutdown_gives_what_waits_its_threads() -> None:
    # The watcher ends with the pool: a queued job another job waits on must still run.
    ready = threading.Event()
    with SyncPool(6, "closing", grow_after=60.0) as pool:
        first = pool.submit_short(ready.wait, 5)
        pool.submit_short(ready.set)
    assert first.result(0) is True


def test_a_failed_job_does_not_keep_its_arguments() -> None:
    class Argument:
        pass

    def fails(_: Argument) -> None:
        raise ValueError("no")

    pool = SyncPool(2, "failing")
    gc.disable()  # freed by reference counting alone, as on ThreadPoolExecutor
    try:
        argument = Argument()
        alive = weakref.ref(argument)
        future = pool.submit(fails, argument)
        del argument
        try:
            future.result(5)
        except ValueError:
            pass
        del future
        deadline = time.monotonic() + 2
        while alive() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive() is None
    finally:
        gc.enable()
        pool.shutdown()
