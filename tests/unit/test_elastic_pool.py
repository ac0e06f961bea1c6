"""The worker's thread pool for sync functions (funchost.workers.elastic): short jobs stay
on the threads already running; jobs that block get more threads, up to the maximum."""

from __future__ import annotations

import threading
import time

import pytest

from funchost.workers.elastic import GROW_AFTER_SECONDS, ElasticPool


def test_short_jobs_in_bursts_run_on_one_thread() -> None:
    pool = ElasticPool(6, "t")
    names: set[str] = set()
    for _ in range(50):
        futures = [pool.submit(lambda: names.add(threading.current_thread().name)) for _ in range(8)]
        for f in futures:
            f.result(timeout=5)
    assert names == {"t_0"}


def test_blocking_jobs_get_up_to_the_maximum_threads_at_once() -> None:
    pool = ElasticPool(4, "t")
    running = 0
    peak = 0
    lock = threading.Lock()

    def block() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.3)
        with lock:
            running -= 1

    started = time.monotonic()
    futures = [pool.submit(block) for _ in range(8)]
    for f in futures:
        f.result(timeout=10)
    # Two rounds of four, each extra thread after about GROW_AFTER_SECONDS.
    assert peak == 4
    assert time.monotonic() - started < 0.6 + 4 * GROW_AFTER_SECONDS + 0.5


def test_a_job_that_waits_for_a_later_one_gets_it_a_thread() -> None:
    pool = ElasticPool(2, "t")
    ready = threading.Event()
    first = pool.submit(lambda: ready.wait(5))
    second = pool.submit(ready.set)
    assert second.result(timeout=5) is None
    assert first.result(timeout=5) is True


def test_results_and_errors_reach_the_caller() -> None:
    pool = ElasticPool(2, "t")
    assert pool.submit(lambda a, b: a + b, 2, 3).result(timeout=5) == 5
    assert pool.submit(lambda *, k: k, k="v").result(timeout=5) == "v"

    def fail() -> None:
        raise ValueError("from the job")

    with pytest.raises(ValueError, match="from the job"):
        pool.submit(fail).result(timeout=5)
