"""The administration API through the unmodified `ServiceBusAdministrationClient`, sync
and aio: queues, topics, subscriptions and rules created, read, listed (paged),
updated and deleted; runtime counts; errors as the SDK maps them; the health check;
the official installer sample's plain-HTTP way; entities kept with --data-dir."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.exceptions import MessagingEntityNotFoundError
from azure.servicebus.management import (
    CorrelationRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleFilter,
)

from funchost.devservices.servicebus import ServiceBusEmulator
from sbemulator.admin.http_server import CERTIFICATE

from .helpers import body, receive
from .sdk import FLAVORS, Blocking, client

pytestmark = pytest.mark.integration

ADMIN_LINE = re.compile(r"administration API on http://[^\s:]+:(\d+)")


class Running:
    def __init__(self, *args: str, data_dir: Path | None = None) -> None:
        self.service = ServiceBusEmulator(data_dir=data_dir, extra_args=list(args))
        self.service.start()
        m = ADMIN_LINE.search(self.service.output())
        assert m, self.service.output()
        self.http_port = int(m.group(1))
        assert self.service.connection_string is not None
        self.connection_string = self.service.connection_string

    def admin_connection_string(self, key: str = "SAS_KEY_VALUE") -> str:
        # As the official emulator's docs write it: the HTTP port in the endpoint.
        return (
            f"Endpoint=sb://localhost:{self.http_port};SharedAccessKeyName="
            f"RootManageSharedAccessKey;SharedAccessKey={key};UseDevelopmentEmulator=true;"
        )

    def stop(self) -> None:
        self.service.stop()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Running]:
    running = Running("--queue", "existing", "--max-entities", "30")
    yield running
    running.stop()


def admin_client(flavor: str, conn: str, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> Any:
    """The SDK's administration client as it is; the one thing it needs is to trust the
    emulator's development certificate (it always speaks HTTPS)."""
    if flavor == "sync":
        return ServiceBusAdministrationClient.from_connection_string(
            conn, connection_verify=str(CERTIFICATE), **kwargs
        )
    from azure.servicebus.aio.management import ServiceBusAdministrationClient as Async

    return Blocking(Async.from_connection_string(conn, connection_verify=str(CERTIFICATE)), loop)


def listed(items: Any, loop: asyncio.AbstractEventLoop) -> list[Any]:
    if hasattr(items, "__aiter__"):

        async def collect() -> list[Any]:
            return [x async for x in items]

        return loop.run_until_complete(collect())
    return list(items)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_queue_lifecycle_and_runtime_counts(emulator: Running, flavor: str, loop) -> None:
    q = f"adminq-{flavor}"
    with admin_client(flavor, emulator.admin_connection_string(), loop) as admin:
        created = admin.create_queue(
            q,
            lock_duration=dt.timedelta(seconds=30),
            max_delivery_count=4,
            dead_lettering_on_message_expiration=True,
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=dt.timedelta(minutes=2),
            user_metadata="made by a test",
        )
        assert (created.name, created.lock_duration, created.max_delivery_count) == (
            q,
            dt.timedelta(seconds=30),
            4,
        )
        assert created.default_message_time_to_live == dt.timedelta(hours=1)  # the quota
        with pytest.raises(ResourceExistsError):
            admin.create_queue(q)
        props = admin.get_queue(q)
        assert (props.requires_duplicate_detection, props.user_metadata) == (True, "made by a test")
        names = [x.name for x in listed(admin.list_queues(max_page_size=1), loop)]
        assert {"queue.1", "existing", q} <= set(names)  # one per page: next links followed
        props.max_delivery_count = 6
        admin.update_queue(props)
        assert admin.get_queue(q).max_delivery_count == 6

        with client(flavor, emulator.connection_string, loop) as sb:
            with sb.get_queue_sender(q) as sender:
                sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
                far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
                sender.schedule_messages(ServiceBusMessage("later"), far)
            with sb.get_queue_receiver(q) as receiver:
                (first,) = receive(receiver, 1)
                receiver.dead_letter_message(first, reason="test")
        runtime = admin.get_queue_runtime_properties(q)
        assert (
            runtime.active_message_count,
            runtime.dead_letter_message_count,
            runtime.scheduled_message_count,
            runtime.total_message_count,
        ) == (1, 1, 1, 3)
        assert runtime.size_in_bytes > 0
        (listed_runtime,) = [
            r for r in listed(admin.list_queues_runtime_properties(), loop) if r.name == q
        ]
        assert listed_runtime.active_message_count == 1

        admin.delete_queue(q)
        with pytest.raises(ResourceNotFoundError):
            admin.get_queue(q)
        with pytest.raises(ResourceNotFoundError):
            admin.delete_queue(q)
        with pytest.raises(ResourceNotFoundError):
            admin.update_queue(props)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_topics_subscriptions_and_rules_route_messages(emulator: Running, flavor: str, loop):
    t = f"admint-{flavor}"
    with admin_client(flavor, emulator.admin_connection_string(), loop) as admin:
        admin.create_topic(t, default_message_time_to_live=dt.timedelta(minutes=10))
        for sub in ("all", "red", "important"):
            admin.create_subscription(t, sub, max_delivery_count=3)
        admin.delete_rule(t, "red", "$Default")
        admin.create_rule(
            t, "red", "red", filter=SqlRuleFilter("Color = @color", parameters={"@color": "red"})
        )
        admin.delete_rule(t, "important", "$Default")
        admin.create_rule(
            t,
            "important",
            "important",
            filter=CorrelationRuleFilter(correlation_id="important", properties={"level": 1}),
        )
        rules = listed(admin.list_rules(t, "important"), loop)
        assert [(r.name, type(r.filter).__name__) for r in rules] == [
            ("important", "CorrelationRuleFilter")
        ]
        assert rules[0].filter.properties == {"level": 1}
        red = admin.get_rule(t, "red", "red")
        assert red.filter.sql_expression == "Color = 'red'"  # parameters bound
        with pytest.raises(ResourceExistsError):
            admin.create_subscription(t, "all")
        sub = admin.get_subscription(t, "all")
        sub.lock_duration = dt.timedelta(seconds=20)
        admin.update_subscription(t, sub)
        assert admin.get_subscription(t, "all").lock_duration == dt.timedelta(seconds=20)
        assert admin.get_topic_runtime_properties(t).subscription_count == 3
        assert [s.name for s in listed(admin.list_subscriptions(t), loop)] == [
            "all",
            "red",
            "important",
        ]

        with client(flavor, emulator.connection_string, loop) as sb:
            with sb.get_topic_sender(t) as sender:
                sender.send_messages(
                    [
                        ServiceBusMessage("r", application_properties={"Color": "red"}),
                        ServiceBusMessage(
                            "i", correlation_id="important", application_properties={"level": 1}
                        ),
                        ServiceBusMessage("g", application_properties={"Color": "green"}),
                    ]
                )
            counts = {
                s: admin.get_subscription_runtime_properties(t, s).active_message_count
                for s in ("all", "red", "important")
            }
            assert counts == {"all": 3, "red": 1, "important": 1}
            with sb.get_subscription_receiver(t, "red") as receiver:
                assert [body(m) for m in receive(receiver, 1)] == ["r"]

        admin.delete_subscription(t, "red")
        with pytest.raises(ResourceNotFoundError):
            admin.get_subscription(t, "red")
        admin.delete_topic(t)
        with pytest.raises(ResourceNotFoundError):
            admin.get_topic(t)


def test_errors_as_the_sdk_maps_them(emulator: Running, loop) -> None:
    with admin_client("sync", emulator.admin_connection_string(), loop) as admin:
        with pytest.raises(HttpResponseError, match="ForwardTo: no queue or topic") as bad:
            admin.create_queue("forwards-nowhere", forward_to="nowhere")
        assert bad.value.status_code == 400
        made = []
        with pytest.raises(HttpResponseError, match="quota") as full:
            for i in range(40):  # --max-entities 30
                admin.create_queue(f"filler-{i}")
                made.append(f"filler-{i}")
        assert full.value.status_code == 403
        for name in made:
            admin.delete_queue(name)
        namespace = admin.get_namespace_properties()
        assert (namespace.name, namespace.messaging_sku) == ("sbemulatorns", "Standard")
    wrong = emulator.admin_connection_string(key="not-the-key")
    with admin_client("sync", wrong, loop) as admin:
        admin.get_queue("existing")  # keys are not checked without --require-key


def test_deleting_a_queue_detaches_its_receivers(emulator: Running, loop) -> None:
    with admin_client("sync", emulator.admin_connection_string(), loop) as admin:
        admin.create_queue("doomed")
        with (
            client("sync", emulator.connection_string, loop, retry_total=0) as sb,
            sb.get_queue_receiver("doomed") as receiver,
        ):
            assert receiver.receive_messages(max_wait_time=0.5) == []
            admin.delete_queue("doomed")
            with pytest.raises(MessagingEntityNotFoundError):
                receiver.receive_messages(max_wait_time=2)


def test_health_and_the_official_samples_plain_http(emulator: Running) -> None:
    with urllib.request.urlopen(f"http://localhost:{emulator.http_port}/health") as reply:
        assert json.load(reply) == {"status": "healthy", "message": "Service is healthy."}
    # The installer's Python sample points the client at plain HTTP by hand.
    admin = ServiceBusAdministrationClient.from_connection_string(
        emulator.admin_connection_string()
    )
    admin._impl._client._base_url = f"http://localhost:{emulator.http_port}"
    with admin:
        assert admin.get_queue("existing").name == "existing"


def test_require_key_applies_to_the_admin_api(loop) -> None:
    running = Running("--require-key")
    try:
        with admin_client("sync", running.admin_connection_string(), loop) as admin:
            assert admin.get_namespace_properties().name == "sbemulatorns"
        wrong = running.admin_connection_string(key="not-the-key")
        with (
            admin_client("sync", wrong, loop) as admin,
            pytest.raises(ClientAuthenticationError),
        ):
            admin.get_namespace_properties()
    finally:
        running.stop()


def test_entities_made_over_http_survive_a_restart(tmp_path: Path, loop) -> None:
    data = tmp_path / "data"
    first = Running(data_dir=data)
    try:
        with admin_client("sync", first.admin_connection_string(), loop) as admin:
            admin.create_queue("kept", max_delivery_count=2)
            admin.create_topic("kept-topic")
            admin.create_subscription("kept-topic", "sub")
            admin.create_rule("kept-topic", "sub", "only-x", filter=SqlRuleFilter("x = 1"))
            admin.delete_rule("kept-topic", "sub", "$Default")
            admin.create_queue("gone")
            admin.delete_queue("gone")
        with client("sync", first.connection_string, loop) as sb:
            with sb.get_queue_sender("kept") as sender:
                sender.send_messages(ServiceBusMessage("survivor"))
            with sb.get_topic_sender("kept-topic") as sender:
                sender.send_messages(
                    [
                        ServiceBusMessage("x", application_properties={"x": 1}),
                        ServiceBusMessage("y", application_properties={"x": 2}),
                    ]
                )
    finally:
        first.stop()
    second = Running(data_dir=data)
    try:
        with admin_client("sync", second.admin_connection_string(), loop) as admin:
            assert admin.get_queue("kept").max_delivery_count == 2
            with pytest.raises(ResourceNotFoundError):
                admin.get_queue("gone")
            assert [r.name for r in listed(admin.list_rules("kept-topic", "sub"), loop)] == [
                "only-x"
            ]
        with client("sync", second.connection_string, loop) as sb:
            with sb.get_queue_receiver("kept") as receiver:
                assert [body(m) for m in receive(receiver, 1)] == ["survivor"]
            with sb.get_subscription_receiver("kept-topic", "sub") as receiver:
                assert [body(m) for m in receive(receiver, 2, timeout=2)] == ["x"]
            with sb.get_queue_receiver("kept", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
                assert dlq.receive_messages(max_wait_time=0.5) == []
    finally:
        second.stop()
