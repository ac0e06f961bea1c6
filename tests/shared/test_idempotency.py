"""Idempotency ledger against real Azurite: one effect per key, races, crashes, leases."""

from __future__ import annotations

import asyncio
import uuid
import json
import threading
from datetime import timedelta

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage  # what the worker passes

from shared import sync
from shared.errors import ClaimLost, KeyInProgress, MissingIdempotencyKey
from shared.idempotency import (
    ClaimStatus,
    IdempotencyLedger,
    Outcome,
    header,
    idempotent,
    json_field,
    message_id,
)
from shared.storage import StorageAccount

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def count_messages(account: StorageAccount, queue: str) -> int:
    props = await account.queue(queue).get_queue_properties()
    return int(props.approximate_message_count)


async def test_duplicate_delivery_runs_once_and_returns_first_result(account, unique_name):
    # Given a queue function whose effect is a message on another queue
    ledger = IdempotencyLedger(account, table=unique_name)
    effects = await account.ensure_queue(unique_name + "fx")
    calls = []

    @idempotent(ledger, key=message_id(), output=True)  # a function with a $return binding
    async def handle(msg: func.QueueMessage) -> dict:
        calls.append(msg.id)
        await effects.send_message(msg.get_body().decode())
        return {"total": 42}

    msg = func.QueueMessage(id="m-1", body=b"order 1")
    # When the same message is delivered three times
    results = [await handle(msg) for _ in range(3)]
    # Then the work ran once, every delivery got the first result, one effect exists
    assert calls == ["m-1"]
    assert results == [{"total": 42}] * 3
    assert await count_messages(account, unique_name + "fx") == 1
    record = await ledger.get("m-1", scope="handle")
    assert record is not None and record.outcome is Outcome.SUCCEEDED and record.attempt == 1


async def deliver_until_settled(handle, msg, *, pause: float = 0.05):
    """What a queue does: redeliver while the function raises KeyInProgress."""
    while True:
        try:
            return await handle(msg)
        except KeyInProgress:
            await asyncio.sleep(pause)


async def test_racing_tasks_on_one_key_produce_one_effect(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    effects = await account.ensure_queue(unique_name + "fx")
    running = 0
    peak = 0

    @idempotent(ledger, key=json_field("order.id"), output=True)
    async def handle(msg: func.QueueMessage) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)  # long enough for every racer to hit the live claim
        await effects.send_message("charged")
        running -= 1
        return "charged once"

    # Twelve deliveries of the same order (different message ids: the key is a body field)
    msgs = [
        func.QueueMessage(id=f"m{i}", body=json.dumps({"order": {"id": "A-7"}}).encode())
        for i in range(12)
    ]
    results = await asyncio.gather(*(deliver_until_settled(handle, m) for m in msgs))
    assert results == ["charged once"] * 12
    assert peak == 1
    assert await count_messages(account, unique_name + "fx") == 1


def test_racing_threads_each_with_its_own_loop_produce_one_effect(
    storage_connection_string, unique_name
):
    # Four worker "processes": threads with their own event loop, account and ledger
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    async def worker() -> None:
        async with StorageAccount.from_connection_string(storage_connection_string) as acc:
            ledger = IdempotencyLedger(acc, table=unique_name)
            effects = await acc.ensure_queue(unique_name + "fx")
            await acc.ensure_table(unique_name)
            barrier.wait()
            while True:
                try:
                    async with ledger.guard("payment-9") as g:
                        if g.duplicate:
                            with lock:
                                outcomes.append("duplicate")
                            return
                        await effects.send_message("paid")
                        await asyncio.sleep(0.2)
                        g.result = "paid"
                        with lock:
                            outcomes.append("ran")
                        return
                except KeyInProgress:
                    await asyncio.sleep(0.05)

    threads = [threading.Thread(target=asyncio.run, args=(worker(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "ran"]

    async def check() -> int:
        async with StorageAccount.from_connection_string(storage_connection_string) as acc:
            return await count_messages(acc, unique_name + "fx")

    assert asyncio.run(check()) == 1


async def test_crash_after_claim_is_retried_after_the_lease(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name, lease=timedelta(seconds=1))
    # Worker 1 claims and "crashes": no outcome, no renewal, no release
    first = await ledger.claim("job-1")
    assert first.status is ClaimStatus.ACQUIRED
    # A redelivery inside the lease is told to come back later
    with pytest.raises(KeyInProgress) as info:
        await ledger.claim("job-1")
    assert info.value.owner == first.owner
    # After the lease, the redelivery takes over and redoes the work
    await asyncio.sleep(1.2)
    second = await ledger.claim("job-1")
    assert second.status is ClaimStatus.TAKEN_OVER and second.attempt == 2
    await ledger.complete(second, {"done": True})
    # The crashed worker, coming back late, cannot record over it
    with pytest.raises(ClaimLost):
        await ledger.complete(first, {"done": "late"})
    third = await ledger.claim("job-1")
    assert third.status is ClaimStatus.DUPLICATE
    assert third.record is not None and third.record.result == {"done": True}
    assert third.record.attempt == 2


async def test_only_one_of_two_racing_takeovers_wins(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name, lease=timedelta(seconds=0.5))
    await ledger.claim("k")
    await asyncio.sleep(0.7)
    results = await asyncio.gather(*(ledger.claim("k") for _ in range(6)), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and winners[0].status is ClaimStatus.TAKEN_OVER
    assert all(isinstance(r, KeyInProgress) for r in results if r is not winners[0])


async def test_guard_renews_the_lease_while_the_work_runs(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name, lease=timedelta(seconds=0.6))
    async with ledger.guard("slow") as g:
        await asyncio.sleep(1.5)  # well past the lease: only renewal keeps others out
        with pytest.raises(KeyInProgress):
            await ledger.claim("slow")
        g.result = 1
    assert (await ledger.claim("slow")).status is ClaimStatus.DUPLICATE


async def test_failure_releases_the_claim_so_a_redelivery_redoes_the_work(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    attempts = []

    @idempotent(ledger, key=message_id(), output=True)
    async def flaky(msg: func.QueueMessage) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return "ok"

    msg = func.QueueMessage(id="m", body=b"x")
    with pytest.raises(RuntimeError):
        await flaky(msg)
    assert await flaky(msg) == "ok"
    assert await flaky(msg) == "ok"
    assert len(attempts) == 2
    # The redelivery that redid the work counts as the second attempt.
    record = await ledger.get("m", scope="flaky")
    assert record is not None and record.attempt == 2


async def test_recorded_failure_is_returned_to_duplicates(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    attempts = []

    @idempotent(ledger, key=message_id(), record_failures=True)
    async def broken(msg: func.QueueMessage) -> str:
        attempts.append(1)
        raise ValueError("bad order")

    msg = func.QueueMessage(id="m", body=b"x")
    with pytest.raises(ValueError):
        await broken(msg)
    assert await broken(msg) is None
    record = await ledger.get("m", scope="broken")
    assert record is not None and record.outcome is Outcome.FAILED
    assert record.error == "ValueError: bad order"
    assert len(attempts) == 1


async def test_http_idempotency_key_header_replays_the_response(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    created = []

    @idempotent(ledger, key=header())
    async def create(req: func.HttpRequest) -> func.HttpResponse:
        created.append(req.get_body())
        return func.HttpResponse(
            '{"id": 1}',
            status_code=201,
            mimetype="application/json",
            headers={"Location": "/orders/1"},
        )

    def request(key: str | None) -> func.HttpRequest:
        headers = {"Idempotency-Key": key} if key else {}
        return func.HttpRequest("POST", "/orders", headers=headers, body=b"{}")

    first = await create(request("abc"))
    again = await create(request("abc"))
    assert len(created) == 1
    assert again.status_code == 201 and again.get_body() == first.get_body()
    assert again.headers["Location"] == "/orders/1"
    assert again.mimetype == "application/json"
    missing = await create(request(None))
    assert missing.status_code == 400 and "idempotency key" in missing.get_body().decode()
    # The same key for another body is refused with 422, and nothing runs.
    other = func.HttpRequest("POST", "/orders", headers={"Idempotency-Key": "abc"}, body=b"{1}")
    reused = await create(other)
    assert reused.status_code == 422 and len(created) == 1


async def test_concurrent_http_requests_with_one_key_get_one_run_and_409s(account, unique_name):
    # Twelve concurrent POSTs with one key: one runs, the others get 409 with Retry-After
    # while it runs (never a 500), then the replayed response.
    ledger = IdempotencyLedger(account, table=unique_name)
    created = []

    @idempotent(ledger, key=header())
    async def create(req: func.HttpRequest) -> func.HttpResponse:
        created.append(1)
        await asyncio.sleep(0.5)
        return func.HttpResponse("made", status_code=201)

    def request() -> func.HttpRequest:
        return func.HttpRequest("POST", "/o", headers={"Idempotency-Key": "k"}, body=b"x")

    answers = await asyncio.gather(*(create(request()) for _ in range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1 and statuses.count(409) == 11, statuses
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 409)
    assert created == [1]
    assert (await create(request())).status_code == 201  # after it finished: the replay


async def test_service_bus_message_id_and_sync_functions(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    calls = []

    @idempotent(ledger, key=message_id(), output=True)
    def handle(message: func.ServiceBusMessage) -> int:  # a synchronous function
        calls.append(message.message_id)
        return len(calls)

    msg = ServiceBusMessage(
        body=b"{}", message_id="sb-1", application_properties={}, user_properties={}
    )
    # The worker runs sync functions in a thread without a loop; so do we
    assert await asyncio.to_thread(handle, msg) == 1
    assert await asyncio.to_thread(handle, msg) == 1
    assert calls == ["sb-1"]
    # The ledger calls ran on the shared background loop: close the clients opened there
    await asyncio.to_thread(sync.run, account.close())


async def test_purge_removes_old_finished_keys_only(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    done = await ledger.claim("old")
    await ledger.complete(done, None)
    await ledger.claim("running")  # live claim: kept
    await asyncio.sleep(0.2)
    assert await ledger.purge(timedelta(seconds=0.1)) == 1
    assert await ledger.get("old") is None
    assert (await ledger.claim("old")).status is ClaimStatus.ACQUIRED


async def test_keys_with_reserved_characters_are_stored_safely(account, unique_name):
    ledger = IdempotencyLedger(account, table=unique_name)
    for key in ["a/b#c?d\\e", "x" * 2000, "ümlaut %41"]:
        claim = await ledger.claim(key)
        await ledger.complete(claim, key[:10])
        again = await ledger.claim(key)
        assert again.status is ClaimStatus.DUPLICATE and again.record.result == key[:10]


async def test_effects_commit_with_the_outcome_once(account: StorageAccount) -> None:
    # The effect rows and the outcome are one entity group transaction: a second worker
    # that redid the work after a lost lease cannot store its effects too.
    ledger = IdempotencyLedger(account, table=f"eff{uuid.uuid4().hex[:8]}")
    key = f"order-{uuid.uuid4().hex[:6]}"
    async with ledger.guard(key) as g:
        assert not g.duplicate
        g.result = "charged"
        g.effects.append({"RowKey": "charge", "Amount": 5})
    async with ledger.guard(key) as again:
        assert again.duplicate and again.record is not None
        assert again.record.result == "charged"
    effects = await ledger.effects_of(key)
    assert [(e["RowKey"], e["Amount"]) for e in effects] == [("charge", 5)]
    # A claim whose row changed meanwhile stores neither outcome nor effects.
    other = f"order-{uuid.uuid4().hex[:6]}"
    claim = await ledger.claim(other)
    await ledger.renew(claim)  # moves the ETag: `claim` is now stale
    with pytest.raises(ClaimLost):
        await ledger.complete(claim, "x", effects=[{"RowKey": "charge", "Amount": 1}])
    assert await ledger.effects_of(other) == []
    assert await ledger.get(other) is None


async def test_a_duplicate_of_a_running_job_waits_for_it_instead_of_failing(
    account: StorageAccount,
) -> None:
    # A redelivery while the first run still goes on is postponed in place: it gets the
    # first outcome when that run completes, without failing (and burning a delivery).
    ledger = IdempotencyLedger(
        account, table=f"wait{uuid.uuid4().hex[:8]}", lease=timedelta(seconds=3)
    )
    key = f"job-{uuid.uuid4().hex[:6]}"
    first_started = asyncio.Event()

    async def first() -> None:
        async with ledger.guard(key) as g:
            first_started.set()
            await asyncio.sleep(1.5)
            g.result = "first"

    async def duplicate() -> object:
        await first_started.wait()
        async with ledger.guard(key) as g:
            assert g.duplicate and g.record is not None
            return g.record.result

    _, seen = await asyncio.gather(first(), duplicate())
    assert seen == "first"
    # Without waiting, the duplicate fails at once (what an HTTP request answers 409 to).
    other = f"job-{uuid.uuid4().hex[:6]}"
    await ledger.claim(other)  # held, never completed: a crashed worker
    with pytest.raises(KeyInProgress):
        await ledger.claim(other, wait=timedelta(0))
    # Waiting past the lease, the crashed worker's claim is taken over.
    taken = await ledger.claim(other, wait=timedelta(seconds=6))
    assert taken.status is ClaimStatus.TAKEN_OVER and taken.attempt == 2


async def test_a_return_value_without_output_is_recorded_not_handed_to_the_host(
    account, unique_name
):
    # The documented queue example returned a dict without a $return binding: the host
    # refused it after the key was recorded done, so every redelivery replayed the refusal
    # into the poison queue. Now the host gets None, the ledger keeps the value, and the
    # Out[...] values set by the first run are set again for a duplicate.
    ledger = IdempotencyLedger(account, table=unique_name)

    class Holder(func.Out[str]):
        def __init__(self) -> None:
            self.value: str | None = None

        def set(self, val: str) -> None:
            self.value = val

        def get(self) -> str | None:
            return self.value

    @idempotent(ledger, key=message_id())
    async def handle(msg: func.QueueMessage, out: func.Out[str]) -> dict:
        out.set("receipt-" + msg.id)
        return {"total": 42}

    msg = func.QueueMessage(id="m-9", body=b"x")
    first, again = Holder(), Holder()
    assert await handle(msg, out=first) is None
    assert await handle(msg, out=again) is None  # a duplicate: not rerun ...
    assert again.value == first.value == "receipt-m-9"  # ... but the output set again
    record = await ledger.get("m-9", scope="handle")
    assert record is not None and record.result["return"] == {"total": 42}
