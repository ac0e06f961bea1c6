"""What `funchost dev` starts, decided from settings and bindings."""

from __future__ import annotations

from typing import Any

from funchost.cli.dev_servicebus import _local_emulator_port
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.devservices.servicebus_entities import connection_names, emulator_args


def fn(name: str, *bindings: dict[str, Any]) -> FunctionSpec:
    infos = tuple(BindingInfo(str(b.get("name", "x")), b["type"], b.get("direction", "in"), b)
                  for b in bindings)
    return FunctionSpec(name=name, func=lambda: None, trigger=infos[0], bindings=infos,
                        inputs=(), outputs=(), returns=None, is_async=False,
                        needs_context=False, directory=".", script_file="function_app.py",
                        function_json={})


def test_entities_from_bindings() -> None:
    functions = [
        fn("a", {"type": "serviceBusTrigger", "queueName": "orders", "isSessionsEnabled": True,
                 "connection": "Sb"},
           {"type": "serviceBus", "direction": "out", "queueName": "%OUT%", "name": "o"}),
        fn("b", {"type": "serviceBusTrigger", "topicName": "events", "subscriptionName": "s1"}),
        fn("c", {"type": "serviceBus", "direction": "out", "topicName": "events", "name": "t"},
           {"type": "serviceBus", "direction": "out", "queueName": "q-{id}", "name": "d"}),
        fn("d", {"type": "queueTrigger", "queueName": "storage-only"}),
    ]
    assert connection_names(functions) == {"Sb", "ServiceBus"}
    assert emulator_args(functions, {"OUT": "replies"}) == [
        "--queue", "orders:RequiresSession=true", "--queue", "replies",
        "--topic", "events:s1", "--auto-create"]


def test_local_emulator_port() -> None:
    local = ("Endpoint=sb://localhost:6000;SharedAccessKeyName=k;SharedAccessKey=v;"
             "UseDevelopmentEmulator=true;")
    assert _local_emulator_port(local) == 6000
    assert _local_emulator_port(local.replace(":6000", "")) == 5672
    assert _local_emulator_port("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
                                "SharedAccessKey=v") is None
