"""The poison/dead-letter helpers on a real host (funchost, in process): a job failing on
its last attempt is marked Failed, its message reaches the poison queue / dead-letter
queue, a replay brings it back and the same job id shows attempt 2 Succeeded; and
functions on the poison / dead-letter queue mark their jobs Failed with the reason.

The app is tests/apps/jobs_ops_app (maxDequeueCount 2; Service Bus entities ops-host and
ops-host-b with MaxDeliveryCount 2).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from funchost.testing import Harness
from funchost.testing.plugin import HostFactory
from shared import sync
from shared.deadletters import POISON_REASON, ServiceBusDeadLetters, StoragePoisonQueue
from shared.servicebus import ServiceBusNamespace
from shared.status import JobState, JobStatus, StatusStore
from shared.storage import StorageAccount
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

APP = REPO / "tests" / "apps" / "jobs_ops_app"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """`probe()` once it is truthy; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s")


@pytest.fixture
def setup(
    funchost: HostFactory, storage_connection_string: str
) -> Iterator[tuple[Harness, StatusStore, dict[str, str]]]:
    tag = uuid.uuid4().hex[:10]
    names = {
        "OPS_STATUS_TABLE": f"OpsStatus{tag}",
        "OPS_QUEUE_A": f"opsa{tag}",
        "OPS_QUEUE_B": f"opsb{tag}",
        "OPS_QUEUE_B_POISON": f"opsb{tag}-poison",
    }
    account = StorageAccount.from_connection_string(storage_connection_string)
    try:
        store = StatusStore(account, table=names["OPS_STATUS_TABLE"])
        yield funchost.start(APP, settings=names), store, names
    finally:
        sync.run(account.close())


def job_in(store: StatusStore, state: JobState) -> Callable[[str], JobStatus | None]:
    def probe(job_id: str) -> JobStatus | None:
        job = sync.run(store.get(job_id))
        return job if job.state is state else None

    return probe


def body(job_id: str, fail_attempts: int = 0) -> str:
    return json.dumps({"jobId": job_id, "failAttempts": fail_attempts})


def test_storage_last_attempt_marks_failed_and_a_replay_succeeds_as_attempt_2(setup):
    host, store, names = setup
    job = sync.run(store.create("order", input={"sku": 1}))
    host.send_queue(names["OPS_QUEUE_A"], body(job.job_id, fail_attempts=1))
    host.wait_for("work_a", 2, ok=False)
    failed = eventually(lambda: job_in(store, JobState.FAILED)(job.job_id))
    assert failed.error == "gave up after attempt 2 of 2: RuntimeError: failing attempt 1"
    poison = StoragePoisonQueue.for_queue(store.account, names["OPS_QUEUE_A"], statuses=store)
    [letter] = eventually(lambda: sync.run(poison.list()))
    assert letter.job_id == job.job_id and letter.reason == failed.error
    [replayed] = sync.run(poison.replay(letter.message_id))
    assert replayed.job_state == "Pending"
    host.wake(names["OPS_QUEUE_A"])
    host.wait_for("work_a", 1, ok=True)
    done = sync.run(store.get(job.job_id))
    assert (done.state, done.attempt, done.result) == (JobState.SUCCEEDED, 2, {"attempt": 2})
    assert sync.run(poison.list()) == []


def test_servicebus_last_attempt_marks_failed_and_a_replay_succeeds_as_attempt_2(
    setup, servicebus_connection_string
):
    host, store, _ = setup
    job = sync.run(store.create("order"))
    message_id = f"sb-{job.job_id}"
    host.send_servicebus("ops-host", body(job.job_id, fail_attempts=1), message_id=message_id)
    host.wait_for("work_sb_a", 2, ok=False)
    failed = eventually(lambda: job_in(store, JobState.FAILED)(job.job_id))
    assert failed.error == "gave up after attempt 2 of 2: RuntimeError: failing attempt 1"
    namespace = ServiceBusNamespace(servicebus_connection_string)
    try:
        dlq = ServiceBusDeadLetters(namespace, queue="ops-host", statuses=store)
        letter = sync.run(dlq.show(message_id))
        assert letter.reason == "MaxDeliveryCountExceeded" and letter.job_id == job.job_id
        [replayed] = sync.run(dlq.replay(message_id))
        assert replayed.job_state == "Pending"
        host.wait_for("work_sb_a", 1, ok=True)
    finally:
        sync.run(namespace.close())
    done = sync.run(store.get(job.job_id))
    assert (done.state, done.attempt) == (JobState.SUCCEEDED, 2)


def test_functions_on_the_poison_and_dead_letter_queues_mark_jobs_failed(setup):
    host, store, names = setup
    on_queue = sync.run(store.create("order"))
    on_bus = sync.run(store.create("order"))
    host.send_queue(names["OPS_QUEUE_B"], body(on_queue.job_id))
    host.send_servicebus("ops-host-b", body(on_bus.job_id), message_id=f"b-{on_bus.job_id}")
    host.wait_for("poisoned_b", 1, ok=True, timeout=60)
    host.wait_for("dead_sb_b", 1, ok=True, timeout=60)
    assert sync.run(store.get(on_queue.job_id)).error == POISON_REASON
    failed = sync.run(store.get(on_bus.job_id))
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert failed.error.startswith("dead-lettered: MaxDeliveryCountExceeded")
