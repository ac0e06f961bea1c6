"""Storage poison queues against real Azurite: list, show, replay and purge, bodies byte for
byte, jobs retried on replay; and the app-side helpers that mark a given-up job Failed.

Poison messages are put where the host puts them (``<queue>-poison``, the stored text of
the failed message); the host's own poisoning is covered in tests/reliability and in
test_deadletters_host.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage

from shared import sync
from shared.deadletters import (
    POISON_REASON,
    StoragePoisonQueue,
    attempt_of,
    fail_job_of_dead_letter,
    fail_job_on_last_attempt,
    is_last_attempt,
    job_id_from,
    last_attempt_fails_job,
)
from shared.errors import DeadLetterNotFound, InvalidArgument, KeyInProgress
from shared.status import JobState, StatusStore
from shared.storage import StorageAccount

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def poisoned(account: StorageAccount, queue: str, *texts: str) -> list[str]:
    """Put `texts` on ``<queue>-poison`` as the host does (stored text, still encoded); the
    queue they failed on exists."""
    await account.ensure_queue(queue)
    client = await account.ensure_queue(f"{queue}-poison")
    return [(await client.send_message(text)).id for text in texts]


async def failed_job(store: StatusStore, error: str = "boom") -> str:
    job = await store.start(await store.create("order", input={"n": 1}))
    return (await store.fail(job, error)).job_id


async def receive_all(account: StorageAccount, queue: str) -> list[str]:
    client = account.queue(queue)
    return [m.content async for m in client.receive_messages(messages_per_page=32)]


async def test_list_and_show_give_the_stored_body_and_the_jobs_reason(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store, "ValueError: bad sku")
    raw = b"\x00\xff not utf-8 \xfe"
    texts = [b64(json.dumps({"jobId": job_id}).encode()), b64(raw), "not base64 at all!"]
    ids = await poisoned(account, unique_name, *texts)
    poison = StoragePoisonQueue.for_queue(account, unique_name, statuses=store)
    letters = await poison.list()
    assert [letter.message_id for letter in letters] == ids
    assert [letter.body for letter in letters] == [t.encode() for t in texts]  # as stored
    first, second, third = letters
    assert first.job_id == job_id and first.reason == "ValueError: bad sku"
    assert first.decoded == json.dumps({"jobId": job_id}).encode()
    assert second.decoded == raw and second.job_id is None and second.reason is None
    assert third.decoded == b"not base64 at all!"  # the host poisons undecodable text too
    assert (first.source, first.target) == (f"{unique_name}-poison", unique_name)
    assert first.dequeue_count == 0 and isinstance(first.enqueued_at, datetime)
    assert await poison.show(ids[1]) == second
    assert await poison.count() == 3
    found = await StoragePoisonQueue.discover(account)
    assert f"{unique_name}-poison" in [q.poison_queue for q in found]
    assert "webjobs-blobtrigger-poison" not in [q.poison_queue for q in found]
    with pytest.raises(DeadLetterNotFound):
        await poison.show("no-such-id")


async def test_replay_sends_the_same_text_back_and_retries_the_job(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store)
    text = b64(json.dumps({"jobId": job_id, "sku": "é"}).encode())
    [keep_id, replay_id] = await poisoned(account, unique_name, b64(b"other"), text)
    poison = StoragePoisonQueue.for_queue(account, unique_name, statuses=store)
    [replayed] = await poison.replay(replay_id)
    assert (replayed.message_id, replayed.job_id, replayed.job_state) == (
        replay_id,
        job_id,
        "Pending",
    )
    assert replayed.target == unique_name
    assert await receive_all(account, unique_name) == [text]  # byte for byte
    # The other poison message was only looked at: it is visible again, the replayed gone.
    assert [m.message_id for m in await poison.list()] == [keep_id]
    job = await store.get(job_id)
    assert job.state is JobState.PENDING and job.error is None
    # The next start is a new attempt on the same job id.
    assert (await store.start(job)).attempt == 2
    with pytest.raises(DeadLetterNotFound):
        await poison.replay(replay_id)


async def test_a_replay_to_a_missing_queue_fails_and_leaves_the_job_failed(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store, "boom")
    [message_id] = await poisoned(account, unique_name, b64(json.dumps({"id": job_id}).encode()))
    poison = StoragePoisonQueue(
        account, f"{unique_name}-poison", f"{unique_name}-typo", statuses=store
    )
    with pytest.raises(ResourceNotFoundError):
        await poison.replay(message_id)
    job = await store.get(job_id)
    assert (job.state, job.error) == (JobState.FAILED, "boom")
    assert [m.message_id for m in await poison.list()] == [message_id]


async def test_replay_all_and_beyond_the_peek_limit(account, unique_name):
    texts = [b64(f"m{i}".encode()) for i in range(40)]
    ids = await poisoned(account, unique_name, *texts)
    poison = StoragePoisonQueue.for_queue(account, unique_name)
    assert len(await poison.list()) == 32  # a peek
    listed = await poison.list(limit=100)  # a scan, then visible again
    assert sorted(m.message_id for m in listed) == sorted(ids)
    assert (await poison.show(ids[-1])).body == texts[-1].encode()  # found by a scan
    replayed = await poison.replay()
    assert sorted(r.message_id for r in replayed) == sorted(ids)
    assert sorted(await receive_all(account, unique_name)) == sorted(texts)
    assert await poison.list() == []


async def test_purge_by_id_and_all(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store)
    ids = await poisoned(account, unique_name, *(b64(f"m{i}".encode()) for i in range(3)))
    poison = StoragePoisonQueue.for_queue(account, unique_name, statuses=store)
    assert await poison.purge(ids[1]) == 1
    assert await poison.purge("no-such-id") == 0
    assert [m.message_id for m in await poison.list()] == [ids[0], ids[2]]
    assert await poison.purge() == 2
    assert await poison.list() == []
    assert (await store.get(job_id)).state is JobState.FAILED  # purging keeps the status


async def test_blob_trigger_poison_is_replayed_to_the_hosts_blob_queue(account, unique_name):
    host_id = unique_name
    blob_message = {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.on_blob",
        "BlobType": "BlockBlob",
        "ContainerName": "images",
        "BlobName": f"{unique_name}.png",
        "ETag": '"0x8DB"',
    }
    text = b64(json.dumps(blob_message).encode())
    await account.ensure_queue(f"azure-webjobs-blobtrigger-{host_id}")
    client = await account.ensure_queue("webjobs-blobtrigger-poison")
    message_id = (await client.send_message(text)).id
    poison = StoragePoisonQueue.for_blob_trigger(
        account, host_id, job_id=job_id_from(("BlobName",))
    )
    letter = await poison.show(message_id)
    assert json.loads(letter.decoded) == blob_message and letter.job_id == f"{unique_name}.png"
    [replayed] = await poison.replay(message_id)  # the queue is shared: by id only
    assert replayed.target == f"azure-webjobs-blobtrigger-{host_id}"
    assert await receive_all(account, f"azure-webjobs-blobtrigger-{host_id}") == [text]


def test_the_sync_path(storage_connection_string, unique_name):
    account = StorageAccount.from_connection_string(storage_connection_string)
    try:
        store = StatusStore(account, table=unique_name)
        job_id = sync.run(failed_job(store))
        text = b64(json.dumps({"id": job_id}).encode())
        [message_id] = sync.run(poisoned(account, unique_name, text))
        poison = StoragePoisonQueue.for_queue(account, unique_name, statuses=store)
        assert [m.job_id for m in sync.run(poison.list())] == [job_id]
        [replayed] = sync.run(poison.replay(message_id))
        assert replayed.job_state == "Pending"
        assert sync.run(poison.purge()) == 0
    finally:
        sync.run(account.close())


# --- marking the job Failed from the app ------------------------------------------------------


def queue_message(body: bytes, dequeue_count: int) -> QueueMessage:
    return QueueMessage(id=uuid.uuid4().hex, body=body, dequeue_count=dequeue_count)


def sb_message(body: bytes, delivery_count: int, **kw) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body,
        message_id=uuid.uuid4().hex,
        delivery_count=delivery_count,
        application_properties=kw.pop("application_properties", {}),
        user_properties={},
        **kw,
    )


def test_attempts_count_from_one_and_the_last_depends_on_the_limit():
    assert attempt_of(queue_message(b"", 1)) == 1
    assert not is_last_attempt(queue_message(b"", 4))  # host.json default: 5
    assert is_last_attempt(queue_message(b"", 5))
    assert is_last_attempt(queue_message(b"", 2), max_attempts=2)
    assert not is_last_attempt(sb_message(b"", 9))  # MaxDeliveryCount default: 10
    assert is_last_attempt(sb_message(b"", 10))
    with pytest.raises(InvalidArgument):
        attempt_of(func.HttpRequest("GET", "/", body=b""))


async def test_the_last_attempt_marks_the_job_failed_and_the_error_propagates(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.start(await store.create("order"))
    body = json.dumps({"jobId": job.job_id}).encode()
    with pytest.raises(ValueError, match="bad sku"):
        async with last_attempt_fails_job(store, queue_message(body, 1), max_attempts=2):
            raise ValueError("bad sku")
    assert (await store.get(job.job_id)).state is JobState.RUNNING  # retried by the host
    with pytest.raises(ValueError, match="bad sku"):
        async with last_attempt_fails_job(store, queue_message(body, 2), max_attempts=2):
            raise ValueError("bad sku")
    failed = await store.get(job.job_id)
    assert failed.state is JobState.FAILED
    assert failed.error == "gave up after attempt 2 of 2: ValueError: bad sku"
    # Without a job, or for a final job, nothing happens and nothing is raised.
    running = await store.start(await store.create("order"))
    busy = KeyInProgress("k", "another worker", datetime.now(timezone.utc))
    body_2 = json.dumps({"jobId": running.job_id}).encode()
    assert await fail_job_on_last_attempt(store, queue_message(body_2, 5), busy) is None
    assert (await store.get(running.job_id)).state is JobState.RUNNING  # still being run
    other = queue_message(b'{"no": "job"}', 5)
    assert await fail_job_on_last_attempt(store, other, RuntimeError("x")) is None
    again = await fail_job_on_last_attempt(store, queue_message(body, 5), "late")
    assert again is not None and again.error == failed.error


async def test_a_dead_letter_handler_marks_the_job_failed_with_the_brokers_reason(
    account, unique_name
):
    store = StatusStore(account, table=unique_name)
    queued = await store.create("order")
    running = await store.start(await store.create("order"))
    dead = sb_message(
        b"",
        10,
        application_properties={"jobId": running.job_id},
        dead_letter_reason="MaxDeliveryCountExceeded",
        dead_letter_error_description="after 10 attempts",
    )
    status = await fail_job_of_dead_letter(store, dead)
    assert status is not None and status.state is JobState.FAILED
    assert status.error == "dead-lettered: MaxDeliveryCountExceeded: after 10 attempts"
    poison = queue_message(json.dumps({"id": queued.job_id}).encode(), 0)
    status = await fail_job_of_dead_letter(store, poison)
    assert status is not None and (status.state, status.error) == (JobState.FAILED, POISON_REASON)
    # A job already Failed keeps its (more precise) error.
    status = await fail_job_of_dead_letter(store, poison, reason="something else")
    assert status is not None and status.error == POISON_REASON
    assert await fail_job_of_dead_letter(store, queue_message(b"{}", 0)) is None


def test_finders_read_json_keys_then_the_application_property():
    find = job_id_from(("order", "id"), app_property="job")
    assert find(b'{"order": "o-1", "id": "x"}', {}) == "o-1"
    assert find(b'{"id": 7}', {}) == "7"
    assert find(b'{"id": true}', {"job": "j"}) == "j"
    assert find(b"not json", {}) is None
    assert find(b"[1]", {"job": ""}) is None
