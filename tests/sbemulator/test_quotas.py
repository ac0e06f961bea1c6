"""Quotas without a network: read from a config file, checked against its entities,
enforced by the broker (entity count, entity size, time to live); SAS tokens."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from sbemulator.broker.message import Envelope, MessageProperties
from sbemulator.broker.namespace import Broker
from sbemulator.config.config_json import parse_config
from sbemulator.config.quotas import Quotas, check_quotas
from sbemulator.config.sas import InvalidToken, SharedAccessKey, grants
from sbemulator.errors import ConfigError, QuotaExceeded


def _config(quotas: dict[str, Any] | None = None, queues: int = 1, **ns: Any) -> Any:
    user: dict[str, Any] = {
        "Namespaces": [{"Name": "n", "Queues": [{"Name": f"q{i}"} for i in range(queues)], **ns}]
    }
    if quotas is not None:
        user["Quotas"] = quotas
    return parse_config({"UserConfig": user}, "Config.json")


def test_defaults_are_the_official_emulators_but_connections() -> None:
    q = Quotas()
    assert (q.max_entities, q.max_subscriptions_per_topic, q.max_correlation_filters_per_topic) == (
        50,
        50,
        1000,
    )
    assert (q.max_receivers_per_entity, q.max_message_size, q.max_entity_size) == (
        200,
        256 * 1024,
        100 * 1024 * 1024,
    )
    assert q.max_message_ttl == 3600
    assert q.max_connections == 1000  # the official emulator: 10 (see config.quotas)


def test_quotas_from_the_config_file_and_the_command_line() -> None:
    config = _config(
        {"MaxEntities": 3, "MaxEntitySizeInMegabytes": 2, "MaxMessageTimeToLive": "PT5M"}
    )
    assert config.quotas == Quotas(
        max_entities=3, max_entity_size=2 * 1024 * 1024, max_message_ttl=300
    )
    assert config.quotas.merged(max_entities=7, max_connections=None).max_entities == 7
    with pytest.raises(ConfigError, match="MaxEntities: must be at least 1"):
        _config({"MaxEntities": 0})


def test_too_many_entities_subscriptions_or_filters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="51 queues and topics, more than the quota of 50"):
        check_quotas(_config(queues=51), Quotas())
    subs = [{"Name": f"s{i}"} for i in range(3)]
    topic = _config(Topics=[{"Name": "t", "Subscriptions": subs}])
    with pytest.raises(ConfigError, match="3 subscriptions, more than the quota of 2"):
        check_quotas(topic, Quotas(max_subscriptions_per_topic=2))
    rule = {
        "Name": "r",
        "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"To": "x"}},
    }
    filtered = _config(
        Topics=[
            {
                "Name": "t",
                "Subscriptions": [{"Name": "s", "Rules": [rule]}, {"Name": "u", "Rules": [rule]}],
            }
        ]
    )
    with pytest.raises(ConfigError, match="2 correlation filters"):
        check_quotas(filtered, Quotas(max_correlation_filters_per_topic=1))


def test_a_longer_time_to_live_is_capped_with_a_warning() -> None:
    config = _config(Queues=[{"Name": "q", "Properties": {"DefaultMessageTimeToLive": "P1D"}}])
    (warning,) = check_quotas(config, Quotas())
    assert "DefaultMessageTimeToLive 86400s is beyond the emulator's quota of 3600s" in warning


def _env(size: int = 0, ttl: float | None = None) -> Envelope:
    return Envelope(MessageProperties(time_to_live=ttl), raw=b"x" * size)


def test_the_broker_enforces_entity_count_size_and_ttl() -> None:
    quotas = Quotas(max_entities=2, max_entity_size=1000, max_message_ttl=60)
    broker = Broker(replace(_config(), quotas=quotas), auto_create=True)
    broker.send("auto", [_env()], 0.0)  # auto-created: two entities now
    with pytest.raises(QuotaExceeded, match="already holds 2 queues and topics"):
        broker.send("third", [_env()], 0.0)
    broker.send("q0", [_env(600)], 0.0)
    with pytest.raises(QuotaExceeded, match="maximum entity size"):
        broker.send("q0", [_env(300), _env(300)], 0.0)  # a batch fits whole or not at all
    q = broker.receiver_queue("q0")
    assert q.size == 600
    broker.send("q0", [_env(ttl=3600.0)], 0.0)  # longer than the quota: capped
    assert [m.expires_at for m in q.messages.values()] == [60.0, 60.0]


def test_sas_tokens() -> None:
    key = SharedAccessKey()
    now = time.time()
    token = key.sign("sb://localhost:5672/orders", int(now) + 60)
    assert key.check(token, now) == "sb://localhost:5672/orders"
    with pytest.raises(InvalidToken, match="invalid signature"):
        SharedAccessKey(key="another").check(token, now)
    with pytest.raises(InvalidToken, match="unknown key name"):
        SharedAccessKey(name="Other").check(token, now)
    with pytest.raises(InvalidToken, match="expired"):
        key.check(key.sign("sb://h/orders", int(now) - 1), now)
    with pytest.raises(InvalidToken, match="not a shared access signature"):
        key.check("Bearer abc", now)
    assert grants("sb://localhost:5672/orders", ["orders", "management"][0])
    assert grants("sb://localhost:5672/t", "t/subscriptions/s")
    assert grants("sb://localhost:5672/", "anything")
    assert not grants("sb://localhost:5672/orders", "orders2")
