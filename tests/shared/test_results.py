"""Returning results: signed callbacks to a real local HTTP server, reply queues and events
on Azurite, and the notifier that sends all of them."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from shared.errors import CallbackFailed, InvalidArgument, SignatureError
from shared.results import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    CallbackSender,
    CompletionNotifier,
    QueueEventPublisher,
    QueueReplySender,
    ReplyAddress,
    RetryPolicy,
    entity_name,
    sign,
    verify_signature,
)
from shared.status import JobState, StatusStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SECRET = "s3cret-for-tests"
FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)


class Receiver:
    """A webhook receiver as a customer would write it: verify, then accept."""

    def __init__(self) -> None:
        self.fail_next: list[int] = []  # statuses to answer before accepting
        self.attempts: list[dict[str, str]] = []
        self.accepted: list[dict] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts.append(dict(request.headers))
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0))
        try:
            verify_signature(body, request.headers.get(SIGNATURE_HEADER), SECRET)
        except SignatureError as exc:
            return web.Response(status=401, text=str(exc))
        self.accepted.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def sender() -> AsyncIterator[CallbackSender]:
    s = CallbackSender(SECRET, retry=FAST, timeout=5)
    try:
        yield s
    finally:
        await s.close()


# --- signatures (pure) -----------------------------------------------------------------------


def test_signature_round_trip_and_rejections():
    body = b'{"jobId":"1","state":"Succeeded"}'
    header = sign(SECRET, body, timestamp=1_000_000)
    assert verify_signature(body, header, SECRET, now=1_000_010) == 1_000_000
    # rotating secrets: the old one still verifies while listed
    assert verify_signature(body, header, ["new-secret", SECRET], now=1_000_010)
    cases = {
        "tampered body": (body.replace(b"Succeeded", b"Failed"), header, SECRET, "does not match"),
        "wrong secret": (body, header, "other", "does not match"),
        "replayed later": (body, header, SECRET, "outside"),
        "missing": (body, None, SECRET, "missing"),
        "no timestamp": (body, "v1=abc", SECRET, "no t="),
        "no signature": (body, "t=1000000", SECRET, "no v1="),
    }
    for name, (b, h, secret, reason) in cases.items():
        now = 1_000_000 + (3600 if name == "replayed later" else 5)
        with pytest.raises(SignatureError, match=reason):
            verify_signature(b, h, secret, now=now)


def test_timestamp_is_part_of_the_signed_content():
    body = b"{}"
    header = sign(SECRET, body, timestamp=2_000_000)
    forged = header.replace("t=2000000", "t=2000500")  # move the timestamp, keep the MAC
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(body, forged, SECRET, now=2_000_500)


# --- callbacks over real HTTP ---------------------------------------------------------------


async def test_signed_callback_is_verified_by_the_receiver(account, unique_name, receiver, sender):
    store = StatusStore(account, table=unique_name)
    job = await store.create("report", correlation_id="c-1", callback_url=receiver.url)
    job = await store.succeed(await store.start(job), result_location="https://r/1")
    result = await sender.send_status(job)
    assert result.status_code == 204 and result.attempts == 1
    assert receiver.accepted == [job.to_dict()]
    assert receiver.attempts[0][DELIVERY_HEADER] == f"{job.job_id}:Succeeded"


async def test_callback_retries_until_the_receiver_recovers(receiver, sender):
    receiver.fail_next = [503, 500]
    started = time.monotonic()
    result = await sender.send(receiver.url, {"jobId": "j", "state": "Failed"}, delivery_id="d-1")
    assert result.attempts == 3 and result.status_code == 204
    assert time.monotonic() - started < 2
    assert receiver.accepted == [{"jobId": "j", "state": "Failed"}]
    # every attempt carried the same delivery id, each with its own fresh signature
    assert {a[DELIVERY_HEADER] for a in receiver.attempts} == {"d-1"}
    assert all(SIGNATURE_HEADER in a for a in receiver.attempts)


async def test_callback_gives_up_after_the_bounded_attempts(receiver, sender):
    receiver.fail_next = [500] * 10
    with pytest.raises(CallbackFailed) as info:
        await sender.send(receiver.url, {"x": 1})
    assert info.value.attempts == FAST.max_attempts and "HTTP 500" in info.value.last_error
    assert len(receiver.attempts) == FAST.max_attempts


async def test_callback_does_not_retry_a_rejection(receiver, sender):
    receiver.fail_next = [400]
    with pytest.raises(CallbackFailed, match="not retryable") as info:
        await sender.send(receiver.url, {"x": 1})
    assert info.value.attempts == 1 and len(receiver.attempts) == 1


async def test_callback_with_the_wrong_secret_is_refused_by_the_receiver(receiver):
    wrong = CallbackSender("not-the-secret", retry=FAST)
    try:
        with pytest.raises(CallbackFailed, match="401"):
            await wrong.send(receiver.url, {"x": 1})
    finally:
        await wrong.close()
    assert receiver.accepted == []


async def test_callback_to_a_dead_port_fails_after_retries(sender):
    with pytest.raises(CallbackFailed, match=r"ClientConnectorError|ConnectionRefused") as info:
        await sender.send("http://127.0.0.1:9/hook", {"x": 1})
    assert info.value.attempts == FAST.max_attempts


# --- reply queues and events on Azurite -------------------------------------------------------


async def read_json(account, queue: str) -> list[dict]:
    client = account.queue(queue)
    return [
        json.loads(base64.b64decode(m.content))
        async for m in client.receive_messages(messages_per_page=32)
    ]


async def test_reply_queue_carries_the_correlation_id(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.create("resize", correlation_id="req-42", reply_to=unique_name + "-replies")
    job = await store.succeed(await store.start(job), result_location="https://blob/out.png")
    await QueueReplySender(account).send(job)
    # an explicit queue and correlation id win over the record's
    await QueueReplySender(account).send(job, queue=unique_name + "-other", correlation_id="x")
    [reply] = await read_json(account, unique_name + "-replies")
    assert reply["correlationId"] == "req-42" and reply["jobId"] == job.job_id
    assert reply["status"]["status"] == "Succeeded"
    assert reply["status"]["resultLocation"] == "https://blob/out.png"
    [other] = await read_json(account, unique_name + "-other")
    assert other["correlationId"] == "x"


async def test_reply_without_a_queue_is_an_error(account, unique_name):
    job = await StatusStore(account, table=unique_name).create("k")
    with pytest.raises(InvalidArgument, match="no reply queue"):
        await QueueReplySender(account).send(job)


def test_reply_address_from_a_service_bus_request():
    from azure.functions.servicebus import ServiceBusMessage

    def msg(**kw):
        return ServiceBusMessage(
            body=b"{}", message_id="m-1", application_properties={}, user_properties={}, **kw
        )

    assert ReplyAddress.from_message(msg(reply_to="replies")) == ReplyAddress(
        "replies", "m-1", None
    )
    assert ReplyAddress.from_message(
        msg(
            reply_to="sb://ns.servicebus.windows.net/replies",
            correlation_id="c-9",
            reply_to_session_id="s",
        )
    ) == ReplyAddress("replies", "c-9", "s")
    with pytest.raises(InvalidArgument, match="no ReplyTo"):
        ReplyAddress.from_message(msg())
    assert entity_name("https://ns.servicebus.windows.net/topic/") == "topic"


async def test_completion_event_is_a_cloud_event(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.fail(await store.start(await store.create("email")), "smtp down")
    event_id = await QueueEventPublisher(account, unique_name + "-events").publish(job)
    [event] = await read_json(account, unique_name + "-events")
    assert event["id"] == event_id and event["specversion"] == "1.0"
    assert event["type"] == "jobs.job.failed" and event["source"] == "/jobs/email"
    assert event["subject"] == job.job_id and event["data"]["error"] == "smtp down"


async def test_notifier_sends_reply_callback_and_event_for_one_final_status(
    account, unique_name, receiver, sender
):
    store = StatusStore(account, table=unique_name)
    notifier = CompletionNotifier(
        reply=QueueReplySender(account),
        callback=sender,
        events=QueueEventPublisher(account, unique_name + "-ev"),
    )
    job = await store.create(
        "order", correlation_id="o-1", reply_to=unique_name + "-rp", callback_url=receiver.url
    )
    running = await store.start(job)
    with pytest.raises(InvalidArgument, match="only final"):
        await notifier.notify(running)
    done = await store.succeed(running)
    report = await notifier.notify(done)
    assert [(d.channel, d.ok) for d in report] == [
        ("reply", True),
        ("callback", True),
        ("event", True),
    ]
    assert (await read_json(account, unique_name + "-rp"))[0]["correlationId"] == "o-1"
    assert receiver.accepted[0]["status"] == "Succeeded"
    assert (await read_json(account, unique_name + "-ev"))[0]["subject"] == job.job_id
    # a failing path is reported, the others still go out
    receiver.fail_next = [400]
    report = await notifier.notify(done)
    assert [(d.channel, d.ok) for d in report] == [
        ("reply", True),
        ("callback", False),
        ("event", True),
    ]
    assert done.state is JobState.SUCCEEDED
