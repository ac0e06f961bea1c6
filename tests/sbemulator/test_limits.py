"""Quotas and connection hygiene of a running emulator: entity size, receivers per
entity, time to live and connections through the SDK (sync and aio); connections that
never finish the handshake or fall silent are closed; a storm of connections does not
take the emulator down; `--require-key` checks SAS keys as Service Bus does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import (
    ServiceBusAuthenticationError,
    ServiceBusError,
    ServiceBusQuotaExceededError,
)

from funchost.devservices.servicebus import ServiceBusEmulator

from . import raw_amqp
from .helpers import body, receive
from .sdk import FLAVORS, client

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def emulator(*args: str) -> Iterator[ServiceBusEmulator]:
    service = ServiceBusEmulator(extra_args=list(args))
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_entity_size_receivers_and_time_to_live(flavor: str, loop) -> None:
    with (
        emulator(
            *("--queue", "big", "--queue", "busy", "--queue", "brief"),
            *("--max-entity-size", "1", "--max-receivers-per-entity", "2"),
            *("--max-message-ttl", "PT1S"),
        ) as service,
        client(flavor, service.connection_string, loop) as sb,
    ):
        # Entity size: 1 MB, messages of 200 KB; the sixth does not fit.
        with sb.get_queue_sender("big") as sender:
            for _ in range(5):
                sender.send_messages(ServiceBusMessage(b"x" * 200_000))
            with pytest.raises(ServiceBusQuotaExceededError, match="entity size"):
                sender.send_messages(ServiceBusMessage(b"x" * 200_000))
            with sb.get_queue_receiver("big") as receiver:
                (m,) = receive(receiver, 1)
                receiver.complete_message(m)
            sender.send_messages(ServiceBusMessage(b"x" * 200_000))  # room again

        # Receivers: two at once on one queue; a third is refused.
        with sb.get_queue_receiver("busy") as one, sb.get_queue_receiver("busy") as two:
            with (
                pytest.raises(ServiceBusQuotaExceededError, match="receivers"),
                sb.get_queue_receiver("busy") as three,
            ):
                three.receive_messages(max_wait_time=1)
            with sb.get_queue_sender("busy") as sender:
                sender.send_messages([ServiceBusMessage("1"), ServiceBusMessage("2")])
            got = receive(one, 1) + receive(two, 1)  # both still work
            assert sorted(body(m) for m in got) == ["1", "2"]

        # Time to live: capped by the quota, which is also every entity's default.
        with sb.get_queue_sender("brief") as sender:
            sender.send_messages(ServiceBusMessage("stale"))
        time.sleep(1.3)
        with sb.get_queue_receiver("brief") as receiver:
            assert receiver.receive_messages(max_wait_time=1) == []


def test_connection_quota_refuses_with_quota_exceeded(loop) -> None:
    with emulator("--queue", "q", "--max-connections", "3") as service:
        held = [raw_amqp.handshake(service.port)[0] for _ in range(3)]
        try:
            with client("sync", service.connection_string, loop, retry_total=0) as sb:
                with pytest.raises(ServiceBusError) as caught, sb.get_queue_sender("q") as s:
                    s.send_messages(ServiceBusMessage("over quota"))
                assert "connection quota" in str(caught.value)
            held.pop().close()
            time.sleep(0.2)
            with client("aio", service.connection_string, loop) as sb:
                with sb.get_queue_sender("q") as sender:
                    sender.send_messages(ServiceBusMessage("fits again"))
                with sb.get_queue_receiver("q") as receiver:
                    assert [body(m) for m in receive(receiver, 1)] == ["fits again"]
        finally:
            for sock in held:
                sock.close()


def test_stalled_handshakes_and_silent_connections_are_closed() -> None:
    with emulator("--handshake-timeout", "1", "--idle-timeout", "2") as service:
        mute = raw_amqp.connect(service.port)  # TCP only: a half-open connection
        halfway = raw_amqp.connect(service.port)
        halfway.sendall(raw_amqp.SASL_HEADER)  # the SASL header, then nothing
        opened, seen = raw_amqp.handshake(service.port)
        # The server asks for traffic every second: half its idle timeout, as the spec
        # advises (proton advertises half of what it enforces).
        assert seen[raw_amqp.OPEN][4] == 1000
        for sock in (mute, halfway):
            waited = raw_amqp.closed_within(sock, 5)
            assert waited is not None and waited < 2.5
        closing = raw_amqp.read_frames(opened, until=raw_amqp.CLOSE, timeout=5)
        (error,) = [fields[0] for code, fields in closing if code == raw_amqp.CLOSE]
        assert error.value[0] == "amqp:connection:forced"
        assert "inactive for more than the allowed 2000 milliseconds" in error.value[1]
        assert raw_amqp.closed_within(opened, 3) is not None
        for sock in (mute, halfway, opened):
            sock.close()


def _open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")
def test_a_connection_storm_does_not_exhaust_the_emulator(loop) -> None:
    storm_size = 1500
    with emulator(
        *("--queue", "q", "--max-connections", "50", "--handshake-timeout", "2")
    ) as service:
        assert service.pid is not None
        with client("sync", service.connection_string, loop) as sb:
            sender = sb.get_queue_sender("q")
            receiver = sb.get_queue_receiver("q")
            with sender, receiver:
                sender.send_messages(ServiceBusMessage("before"))
                assert [body(m) for m in receive(receiver, 1)] != []
                baseline = _open_fds(service.pid)
                started = time.monotonic()
                storm = [socket.socket() for _ in range(storm_size)]
                for sock in storm:
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        sock.connect_ex(("127.0.0.1", service.port))
                # The emulator keeps serving the connections it had.
                sender.send_messages(ServiceBusMessage("during"))
                (during,) = receive(receiver, 1)
                assert body(during) == "during"
                receiver.complete_message(during)
                peak = _open_fds(service.pid)
                # Beyond the quota (and a few refusal slots) sockets are dropped unread:
                # the emulator never holds many more than its quota.
                assert peak - baseline <= 50 + 16 + 2
                # Silent sockets are closed at the handshake timeout; the kernel's backlog
                # hands over a few more as slots free up, each with its own 2 s, so wait
                # for the count to settle rather than a fixed 3 s (a busy CI machine lags).
                settled = time.monotonic() + 20
                while _open_fds(service.pid) > baseline + 2 and time.monotonic() < settled:
                    time.sleep(0.25)
                assert _open_fds(service.pid) <= baseline + 2
                for sock in storm:
                    sock.close()
                elapsed = time.monotonic() - started
            # New clients are served again.
            with sb.get_queue_sender("q") as again:
                again.send_messages(ServiceBusMessage("after"))
        assert elapsed < 30


@pytest.mark.parametrize("flavor", FLAVORS)
def test_require_key_checks_the_sas_key(flavor: str, loop) -> None:
    with emulator("--queue", "q", "--require-key") as service:
        good = service.connection_string
        assert good is not None
        with client(flavor, good, loop) as sb, sb.get_queue_sender("q") as sender:
            sender.send_messages(ServiceBusMessage("signed"))
        wrong = good.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=not-the-key")
        with (
            client(flavor, wrong, loop, retry_total=0) as sb,
            pytest.raises(ServiceBusAuthenticationError),
            sb.get_queue_sender("q") as sender,
        ):
            sender.send_messages(ServiceBusMessage("forged"))
        with client(flavor, good, loop) as sb, sb.get_queue_receiver("q") as receiver:
            assert [body(m) for m in receive(receiver, 1)] == ["signed"]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")
def test_more_than_1024_descriptors_do_not_stop_the_reactor(loop) -> None:
    # proton waits on its sockets with select(), which fails past descriptor 1023; the
    # emulator gives it poll() instead.
    with emulator(
        *("--queue", "q", "--max-connections", "2000", "--handshake-timeout", "20")
    ) as service:
        assert service.pid is not None
        storm: list[socket.socket] = []
        try:
            # Sockets the listen backlog turned away are retried by the kernel later;
            # open more until the emulator holds descriptors numbered past 1024.
            deadline = time.monotonic() + 30
            while _open_fds(service.pid) < 1040 and time.monotonic() < deadline:
                for _ in range(200 if len(storm) < 1800 else 0):
                    sock = socket.socket()
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        sock.connect_ex(("127.0.0.1", service.port))
                    storm.append(sock)
                time.sleep(0.5)
            assert _open_fds(service.pid) >= 1040  # descriptors numbered past 1024
            with client("sync", service.connection_string, loop) as sb:
                with sb.get_queue_sender("q") as sender:
                    sender.send_messages(ServiceBusMessage("past 1024"))
                with sb.get_queue_receiver("q") as receiver:
                    assert [body(m) for m in receive(receiver, 1)] == ["past 1024"]
        finally:
            for sock in storm:
                sock.close()


def test_poll_select_answers_like_select() -> None:
    from sbemulator.amqp.poller import poll_select

    a, b = socket.socketpair()
    try:
        assert poll_select([a], [a], [a], 0) == ([], [a], [])  # nothing to read yet
        b.sendall(b"x")
        assert poll_select([a], [], [], 0.5) == ([a], [], [])
        b.close()
        a.recv(1)
        readable, _, _ = poll_select([a], [], [], 0.5)  # hung up: readable, as in select
        assert readable == [a]
    finally:
        a.close()
