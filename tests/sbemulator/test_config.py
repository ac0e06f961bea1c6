"""Config.json parsing: the official emulator's shape, defaults, durations, and errors
that name the file, the entity and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sbemulator.config.config_json import load_config, parse_config
from sbemulator.config.durations import format_duration, parse_duration
from sbemulator.config.model import BUILTIN_SOURCE, EmulatorConfig, default_config
from sbemulator.errors import ConfigError

# The sample Config.json of Microsoft's emulator installer, as users have it.
OFFICIAL_SAMPLE: dict[str, Any] = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "sbemulatorns",
                "Queues": [
                    {
                        "Name": "queue.1",
                        "Properties": {
                            "DeadLetteringOnMessageExpiration": False,
                            "DefaultMessageTimeToLive": "PT1H",
                            "DuplicateDetectionHistoryTimeWindow": "PT20S",
                            "ForwardDeadLetteredMessagesTo": "",
                            "ForwardTo": "",
                            "LockDuration": "PT1M",
                            "MaxDeliveryCount": 3,
                            "RequiresDuplicateDetection": False,
                            "RequiresSession": False,
                        },
                    }
                ],
                "Topics": [
                    {
                        "Name": "topic.1",
                        "Properties": {
                            "DefaultMessageTimeToLive": "PT1H",
                            "DuplicateDetectionHistoryTimeWindow": "PT20S",
                            "RequiresDuplicateDetection": False,
                        },
                        "Subscriptions": [
                            {
                                "Name": "subscription.1",
                                "Properties": {
                                    "DeadLetteringOnMessageExpiration": False,
                                    "DefaultMessageTimeToLive": "PT1H",
                                    "LockDuration": "PT1M",
                                    "MaxDeliveryCount": 3,
                                    "ForwardDeadLetteredMessagesTo": "",
                                    "ForwardTo": "",
                                    "RequiresSession": False,
                                },
                                "Rules": [
                                    {
                                        "Name": "app-prop-filter-1",
                                        "Properties": {
                                            "FilterType": "Correlation",
                                            "CorrelationFilter": {
                                                "ContentType": "application/text",
                                                "CorrelationId": "id1",
                                                "Label": "subject1",
                                                "MessageId": "msgid1",
                                                "ReplyTo": "someQueue",
                                                "ReplyToSessionId": "sessionId",
                                                "SessionId": "session1",
                                                "To": "xyz",
                                            },
                                        },
                                    }
                                ],
                            },
                            {
                                "Name": "subscription.2",
                                "Properties": {"MaxDeliveryCount": 3},
                                "Rules": [
                                    {
                                        "Name": "user-prop-filter-1",
                                        "Properties": {
                                            "FilterType": "Correlation",
                                            "CorrelationFilter": {
                                                "Properties": {"prop3": "value3"}
                                            },
                                        },
                                    }
                                ],
                            },
                            {"Name": "subscription.3", "Properties": {"LockDuration": "PT1M"}},
                        ],
                    }
                ],
            }
        ],
        "Logging": {"Type": "File"},
    }
}


def test_official_sample_loads() -> None:
    config = parse_config(OFFICIAL_SAMPLE, "Config.json")
    assert config.namespace == "sbemulatorns"
    (queue,) = config.queues
    assert queue.name == "queue.1"
    assert queue.properties.lock_duration == 60
    assert queue.properties.max_delivery_count == 3
    assert queue.properties.default_ttl == 3600
    assert queue.properties.forward_to is None  # "" means none
    assert queue.duplicate_detection_window == 20
    (topic,) = config.topics
    assert [s.name for s in topic.subscriptions] == [
        "subscription.1",
        "subscription.2",
        "subscription.3",
    ]
    corr = topic.subscriptions[0].rules[0].correlation
    assert corr is not None and corr.system == {
        "content_type": "application/text",
        "correlation_id": "id1",
        "subject": "subject1",
        "message_id": "msgid1",
        "reply_to": "someQueue",
        "reply_to_session_id": "sessionId",
        "session_id": "session1",
        "to": "xyz",
    }
    assert topic.subscriptions[1].rules[0].correlation.properties == {"prop3": "value3"}
    # A subscription without rules gets the $Default TrueFilter.
    assert [(r.name, r.kind) for r in topic.subscriptions[2].rules] == [("$Default", "true")]
    assert config.warnings == ()


def test_defaults_are_service_bus_defaults() -> None:
    config = parse_config(
        {"UserConfig": {"Namespaces": [{"Name": "n", "Queues": [{"Name": "q"}]}]}}, "f"
    )
    props = config.queues[0].properties
    assert (
        props.lock_duration,
        props.max_delivery_count,
        props.requires_session,
        props.default_ttl,
        props.dead_lettering_on_expiration,
    ) == (60, 10, False, None, False)
    assert config.queues[0].duplicate_detection_window == 600


def test_default_config_has_usable_entities() -> None:
    config = default_config()
    assert config.source == BUILTIN_SOURCE
    assert {q.name for q in config.queues} >= {"queue.1", "session.queue.1"}
    assert [s.name for s in config.topics[0].subscriptions] == ["subscription.1", "subscription.2"]


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("PT1M", 60),
        ("PT0.5S", 0.5),
        ("P14D", 14 * 86400),
        ("PT1H30M", 5400),
        ("P1DT2H", 93600),
        ("00:01:00", 60),
        ("1.02:03:04", 93784),
        ("00:00:00.25", 0.25),
        ("P1W", 7 * 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1 minute", "PT-1S", "P1H"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_infinite_ttl_and_format() -> None:
    config = parse_config(
        {
            "UserConfig": {
                "Namespaces": [
                    {
                        "Name": "n",
                        "Queues": [
                            {
                                "Name": "q",
                                "Properties": {
                                    "DefaultMessageTimeToLive": "P10675199DT2H48M5.4775807S"
                                },
                            }
                        ],
                    }
                ]
            }
        },
        "f",
    )
    assert config.queues[0].properties.default_ttl is None
    assert format_duration(90) == "PT1M30S"
    assert format_duration(None) == "infinite"


def _ns(**entities: Any) -> dict[str, Any]:
    return {"UserConfig": {"Namespaces": [{"Name": "ns", **entities}]}}


def _queue(name: str = "orders", **props: Any) -> dict[str, Any]:
    return {"Name": name, "Properties": props}


def _sub_rule(props: dict[str, Any]) -> dict[str, Any]:
    return _ns(
        Topics=[
            {
                "Name": "events",
                "Subscriptions": [
                    {"Name": "audit", "Rules": [{"Name": "r1", "Properties": props}]}
                ],
            }
        ]
    )


@pytest.mark.parametrize(
    "doc,message",
    [
        ({}, "top level: UserConfig: missing"),
        ({"UserConfig": {"Namespaces": []}}, "exactly one namespace (found 0)"),
        ({"UserConfig": {"Namespaces": [{"Name": "a"}, {"Name": "b"}]}}, "(found 2)"),
        (_ns(Queues={"Name": "q"}), "Queues: must be a JSON array"),
        (_ns(Queues=[{"Properties": {}}]), "Queues[0]: Name: missing"),
        (_ns(Queues=[{"Name": "bad name!"}]), "Queues[0]: Name: invalid entity name 'bad name!'"),
        (
            _ns(Queues=[_queue(LockDuration="soon")]),
            "Queues[0] 'orders'.Properties: LockDuration: not a duration: 'soon'",
        ),
        (_ns(Queues=[_queue(LockDuration=60)]), "LockDuration: must be a duration string"),
        (
            _ns(Queues=[_queue(MaxDeliveryCount=0)]),
            "Queues[0] 'orders'.Properties: MaxDeliveryCount: must be at least 1, found 0",
        ),
        (_ns(Queues=[_queue(MaxDeliveryCount="ten")]), "MaxDeliveryCount: must be an integer"),
        (
            _ns(Queues=[_queue(RequiresSession="yes")]),
            "RequiresSession: must be true or false, found 'yes'",
        ),
        (_ns(Queues=[_queue(DefaultMessageTimeToLive="PT0S")]), "must be longer than zero"),
        (
            _ns(Queues=[_queue(ForwardTo="missing")]),
            "queue 'orders': ForwardTo: no queue or topic named 'missing'",
        ),
        (_ns(Queues=[_queue(ForwardTo="orders")]), "cannot forward to itself"),
        (
            _ns(Queues=[_queue("a", ForwardTo="b"), _queue("b", ForwardTo="a")]),
            "ForwardTo creates a cycle: a -> b -> a",
        ),
        (
            _ns(Queues=[_queue("dup"), _queue("DUP")]),
            "queue 'DUP': name already used by queue 'dup'",
        ),
        (_ns(Queues=[_queue("x")], Topics=[{"Name": "X"}]), "topic 'X': name already used"),
        (
            _sub_rule({"FilterType": "Sql", "SqlFilter": {"SqlExpression": "a ="}}),
            "Subscriptions[0] 'audit' Rules[0] 'r1'.Properties.SqlFilter: SqlExpression: "
            "expected a value",
        ),
        (
            _sub_rule({"FilterType": "Sql", "SqlFilter": {"SqlExpression": "sys.Nope = 1"}}),
            "unknown system property sys.Nope",
        ),
        (_sub_rule({"FilterType": "Sql"}), "SqlFilter: missing"),
        (_sub_rule({"FilterType": "Regex"}), "FilterType: must be 'Correlation' or 'Sql'"),
        (
            _sub_rule({"FilterType": "Correlation", "CorrelationFilter": {}}),
            "a correlation filter needs at least one property",
        ),
        (
            _sub_rule({"FilterType": "Correlation", "CorrelationFilter": {"Label": 3}}),
            "CorrelationFilter: Label: must be a string, found 3",
        ),
    ],
)
def test_bad_configs_name_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "/etc/sb/Config.json")
    assert str(info.value).startswith("/etc/sb/Config.json: ")
    assert message in str(info.value)


def test_unknown_keys_and_actions_warn(tmp_path: Path) -> None:
    doc = _ns(
        Queues=[{"Name": "q", "Properties": {"LockDuration": "PT1S", "Colour": "red"}}],
        Topics=[
            {
                "Name": "t",
                "Subscriptions": [
                    {
                        "Name": "s",
                        "Rules": [
                            {
                                "Name": "r",
                                "Properties": {
                                    "FilterType": "Sql",
                                    "SqlFilter": {"SqlExpression": "1=1"},
                                    "Action": {"SqlExpression": "SET x = 1"},
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    )
    path = tmp_path / "Config.json"
    path.write_text(json.dumps(doc))
    config = load_config(path)
    text = "\n".join(config.warnings)
    assert "unknown key 'Colour' ignored" in text
    assert "LockDuration 1s is outside Azure's range" in text
    assert "rule actions are not supported" in text


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"UserConfig": ')
    with pytest.raises(ConfigError, match=r"bad.json: invalid JSON at line 1"):
        load_config(bad)


def test_with_entities_validates_again() -> None:
    base = default_config()
    extra = parse_config(_ns(Queues=[_queue("queue.1")]), "command line")
    with pytest.raises(ConfigError, match="name already used"):
        base.with_entities(extra.queues)
    assert isinstance(base.with_entities(), EmulatorConfig)


def test_test_config_file_loads() -> None:
    config = load_config(Path(__file__).parent / "Config.json")
    names = {q.name for q in config.queues}
    assert {"funchost-queue", "funchost-sessions", "funchost-poison"} <= names
    poison = next(q for q in config.queues if q.name == "funchost-poison")
    assert poison.properties.max_delivery_count == 3
    topic = next(t for t in config.topics if t.name == "funchost-topic")
    assert [s.name for s in topic.subscriptions] == ["sub1", "sub2"]


def test_the_writer_gives_back_what_the_reader_reads() -> None:
    from sbemulator.config.config_json import queue_from_json, topic_from_json
    from sbemulator.config.config_writer import queue_json, topic_json

    config = load_config(Path(__file__).parent / "Config.json")
    for q in config.queues:
        assert queue_from_json(queue_json(q), "round trip")[0] == q
    for t in config.topics:
        assert topic_from_json(topic_json(t), "round trip")[0] == t
