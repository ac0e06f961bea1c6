"""`funchost.ops`: which poison / dead-letter queue each trigger fills (N
`QueueListenerFactory.cs` for `<queue>-poison`, `Shared/HostQueueNames.cs` for the blob
trigger's), how a SOURCE argument is read, and what a listed message says about its job."""

from __future__ import annotations

from typing import Any

import pytest

from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.errors import ConfigError
from funchost.ops.jobs import Job
from funchost.ops.letters import Letter, job_id_of
from funchost.ops.sources import Source, of_functions, parse


def _spec(name: str, trigger: str, **raw: Any) -> FunctionSpec:
    binding = BindingInfo("t", trigger, "in", {"type": trigger, **raw})
    return FunctionSpec(
        name=name,
        func=lambda: None,
        trigger=binding,
        bindings=(binding,),
        inputs=(),
        outputs=(),
        returns=None,
        is_async=False,
        needs_context=False,
        directory=".",
        script_file="function_app.py",
        function_json={},
    )


def test_each_trigger_and_where_its_failures_go() -> None:
    specs = [
        _spec("a", "queueTrigger", queueName="%ORDERS%"),
        _spec("b", "queueTrigger", queueName="Orders"),  # the same queue: one source
        _spec("c", "queueTrigger", queueName="orders-poison"),
        _spec("d", "blobTrigger", path="images/{name}", connection="Media"),
        _spec("e", "serviceBusTrigger", queueName="work", isSessionsEnabled=True),
        _spec("f", "serviceBusTrigger", topicName="events", subscriptionName="%SUB%"),
        _spec("g", "httpTrigger", route="x"),
    ]
    found = of_functions(specs, {"ORDERS": "orders", "SUB": "audit"}, "host-1")
    assert found == [
        Source("queue", "orders", "orders-poison", None, ("a", "b")),
        Source("queue", "orders-poison", None, None, ("c",)),
        Source(
            "blob",
            "azure-webjobs-blobtrigger-host-1",
            "webjobs-blobtrigger-poison",
            "Media",
            ("d",),
        ),
        Source("servicebus", "work", "work/$DeadLetterQueue", None, ("e",), sessions=True),
        Source(
            "servicebus",
            "events/Subscriptions/audit",
            "events/Subscriptions/audit/$DeadLetterQueue",
            None,
            ("f",),
        ),
    ]
    assert [s.name for s in found] == [
        "queue:orders",
        "queue:orders-poison",
        "blob",
        "servicebus:work",
        "servicebus:events/Subscriptions/audit",
    ]


def test_a_source_argument() -> None:
    assert parse("queue:Orders", "h").failed_entity == "orders-poison"
    assert parse("blob", "h").entity == "azure-webjobs-blobtrigger-h"
    assert parse("servicebus:t/Subscriptions/s", "h", "Bus").connection == "Bus"
    for bad in ("orders", "queue:", "blob:x", "servicebus", "kafka:x"):
        with pytest.raises(ConfigError, match=f"'{bad}' is not a poison source"):
            parse(bad, "h")


@pytest.mark.parametrize(
    ("text", "properties", "job"),
    [
        ('{"jobId": "j1", "id": "other"}', {}, "j1"),
        ('{"id": 42}', {}, "42"),
        ("not json", {"jobId": "j3"}, "j3"),
        ('["a list"]', {}, None),
        ('{"jobId": ""}', {}, None),
    ],
)
def test_the_job_a_message_names(text: str, properties: dict[str, Any], job: str | None) -> None:
    assert job_id_of(text, properties) == job


def test_a_preview_is_one_short_line() -> None:
    letter = Letter("m", b"", "a\n  b " + "x" * 200)
    assert letter.preview.startswith("a b x") and len(letter.preview) == 120
    assert letter.preview.endswith("…")


@pytest.mark.parametrize(
    ("state", "done", "total", "percent"),
    [("Running", 3, 8, 38), ("Running", 0, 0, 0), ("Succeeded", 0, 0, 100), ("Running", 9, 8, 100)],
)
def test_progress(state: str, done: int, total: int, percent: int) -> None:
    job = Job("j", "k", state, done, total, "", 1, None, None, None)
    assert job.progress == percent
