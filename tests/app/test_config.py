"""The app's configuration agrees with itself: host.json, the Service Bus entities
`make run` creates (servicebus.config.json) and the constants the code uses. No services."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from funchost.testing import process_state
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def forget_the_app() -> Iterator[None]:
    """The app's modules imported here are gone after the test, so the hosts of other
    tests import their own (with their own settings)."""
    with process_state.app_modules(REPO) as forget:
        yield
    forget()


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _bindings() -> list[dict[str, Any]]:
    app = _module("function_app").app
    return [
        binding.get_dict_repr()
        for function in app.get_functions()
        for binding in function.get_bindings()
    ]


def _entities() -> dict[str, dict[str, Any]]:
    config = json.loads((REPO / "servicebus.config.json").read_text())
    (namespace,) = config["UserConfig"]["Namespaces"]
    return {q["Name"]: q["Properties"] for q in namespace["Queues"]}


def test_the_code_gives_up_when_the_host_does() -> None:
    max_dequeue_count = _module("functions.services").MAX_DEQUEUE_COUNT
    host = json.loads((REPO / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == max_dequeue_count


def test_every_service_bus_trigger_has_its_entity_with_the_same_session_flag() -> None:
    entities = _entities()
    triggers = [b for b in _bindings() if b["type"] == "serviceBusTrigger"]
    assert triggers
    for binding in triggers:
        name = binding["queueName"]
        assert name in entities, f"{name} is not in servicebus.config.json"
        properties = entities[name]
        assert bool(properties.get("RequiresSession")) == bool(binding.get("isSessionsEnabled"))
        # A message is given up after as many deliveries as a storage queue message.
        assert properties["MaxDeliveryCount"] == 5


def test_the_entities_the_code_sends_to_exist() -> None:
    orders, results = _module("functions.orders"), _module("functions.results")
    entities = _entities()
    assert set(orders.QUEUES.values()) | {results.REQUESTS, "replies"} <= set(entities)
    assert entities["replies"]["RequiresSession"] is True  # replies go to the caller's session
