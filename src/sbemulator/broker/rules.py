"""Subscription rules as predicates over a message's properties.

A subscription receives a copy of a message when any of its rules matches: TrueFilter
(the `$Default` rule of a subscription declared without rules), FalseFilter, a
CorrelationFilter (every listed property equal, strings compared exactly), or a SqlFilter
(see `config.sql_filter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..config import sql_filter
from ..config.model import RuleConfig
from .message import MessageProperties

Predicate = Callable[[MessageProperties], bool]


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return bool(actual == expected)
    if isinstance(expected, str) and isinstance(actual, str):
        return actual == expected
    return False


def _correlation(rule: RuleConfig) -> Predicate:
    assert rule.correlation is not None
    system = tuple(rule.correlation.system.items())
    user = tuple(rule.correlation.properties.items())

    def matches(props: MessageProperties) -> bool:
        for attr, value in system:
            if getattr(props, attr) != value:
                return False
        for key, value in user:
            if key not in props.user or not _same(props.user[key], value):
                return False
        return True

    return matches


def rule_predicate(rule: RuleConfig) -> Predicate:
    """The predicate of one rule (its SQL is validated when the config is parsed)."""
    if rule.kind == "true":
        return lambda props: True
    if rule.kind == "false":
        return lambda props: False
    if rule.kind == "correlation":
        return _correlation(rule)
    assert rule.sql is not None
    return sql_filter.compile_filter(rule.sql)


def subscription_predicate(rules: Sequence[RuleConfig]) -> Predicate:
    predicates = [rule_predicate(r) for r in rules]
    if len(predicates) == 1:
        return predicates[0]
    return lambda props: any(p(props) for p in predicates)
