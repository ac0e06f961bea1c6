"""Returning results beyond polling: signed callbacks (retried, then parked on poison) and
Service Bus request-reply for message-driven callers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage

from shared.results import verify_signature
from tests.app.conftest import CALLBACK_SECRET, JobsApp, eventually, stays
from tests.servicebus_fixtures import ServiceBusEndpoint

pytestmark = pytest.mark.integration


class Receiver:
    """A callback endpoint: answers each POST with the next status in `answers` (then 200)
    and keeps what it received."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} callbacks, expected {count}"
            time.sleep(0.05)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_the_final_status_is_posted_signed_to_the_callback(
    app: JobsApp, receiver: Receiver
) -> None:
    job_id = app.start("report", {"day": "2026-02-01"}, callback=receiver.url("/done"))
    assert app.wait(job_id)["status"] == "Succeeded"
    ((headers, body),) = receiver.wait(1)
    verify_signature(body, headers["x-jobs-signature"], CALLBACK_SECRET)  # raises if forged
    document = json.loads(body)
    assert document["id"] == job_id and document["status"] == "Succeeded"
    assert headers["idempotency-key"] == f"{job_id}:Succeeded"
    stays(lambda: len(receiver.received) == 1, "delivered once", seconds=1.0)


def test_a_failing_receiver_gets_the_callback_again_with_the_same_key(
    app: JobsApp, receiver: Receiver
) -> None:
    receiver.answers = [503, 500]
    job_id = app.start("report", {"day": "2026-02-02"}, callback=receiver.url("/flaky"))
    app.wait(job_id)
    received = receiver.wait(3)
    assert {h["idempotency-key"] for h, _ in received} == {f"{job_id}:Succeeded"}
    for headers, body in received:
        verify_signature(body, headers["x-jobs-signature"], CALLBACK_SECRET)


def test_a_receiver_that_refuses_parks_the_notice_on_poison(
    app: JobsApp, receiver: Receiver
) -> None:
    receiver.answers = [410] * 10  # gone: not worth retrying within one delivery
    job_id = app.start("report", {"day": "2026-02-03"}, callback=receiver.url("/gone"))
    app.wait(job_id)
    from shared.deadletters import StoragePoisonQueue

    def parked() -> list[Any]:
        from functions.services import NOTIFY_QUEUE, services

        return list(app.run(StoragePoisonQueue.for_queue(services().account, NOTIFY_QUEUE).list))

    eventually(
        lambda: any(d.job_id == job_id for d in parked()) or None,
        "the notice on job-notifications-poison",
        timeout=40,
    )
    assert len(receiver.received) == 5  # one POST per delivery of the notice, then poison


def test_a_request_message_gets_its_reply_with_the_correlation_id(
    app: JobsApp, app_servicebus: ServiceBusEndpoint
) -> None:
    request_id = uuid.uuid4().hex
    body = json.dumps({"kind": "report", "input": {"day": "2026-02-04"}})
    with ServiceBusClient.from_connection_string(app_servicebus.connection_string) as client:
        with client.get_queue_sender("job-requests") as sender:
            sender.send_messages(ServiceBusMessage(body, message_id=request_id, reply_to="replies"))
        reply = _reply(client, request_id)
    assert reply["correlationId"] == request_id
    assert reply["status"]["status"] == "Succeeded" and reply["status"]["kind"] == "report"
    assert app.status(reply["jobId"])["correlationId"] == request_id


def test_an_invalid_request_message_is_answered_failed_naming_the_problem(
    app: JobsApp, app_servicebus: ServiceBusEndpoint
) -> None:
    request_id = uuid.uuid4().hex
    body = json.dumps({"kind": "order", "input": {"customer": "c"}})
    with ServiceBusClient.from_connection_string(app_servicebus.connection_string) as client:
        with client.get_queue_sender("job-requests") as sender:
            sender.send_messages(ServiceBusMessage(body, message_id=request_id, reply_to="replies"))
        reply = _reply(client, request_id)
    status = reply["status"]
    assert status["status"] == "Failed" and "not a valid job" in status["error"]
    assert "'items' is a required property" in status["error"]


def _reply(client: ServiceBusClient, session: str, timeout: float = 60.0) -> dict[str, Any]:
    """The reply in the requester's session (the request's message id)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            receiver = client.get_queue_receiver("replies", session_id=session, max_wait_time=5)
        except Exception:  # noqa: BLE001 - the session is not there yet
            time.sleep(0.5)
            continue
        with receiver:
            for message in receiver.receive_messages(max_wait_time=5):
                receiver.complete_message(message)
                reply: dict[str, Any] = json.loads(b"".join(message.body))
                return reply
    raise AssertionError(f"no reply in session {session} within {timeout}s")


assert NEXT_AVAILABLE_SESSION  # imported for readers: replies are per-session
