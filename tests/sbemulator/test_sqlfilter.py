"""The SQL filter subset: a table of expressions against one message."""

from __future__ import annotations

import pytest

from sbemulator.broker.message import MessageProperties
from sbemulator.config.sql_filter import SqlFilterError, compile_filter

MESSAGE = MessageProperties(
    message_id="m-1",
    correlation_id="c-9",
    subject="order.created",
    content_type="application/json",
    to="billing",
    reply_to="replies",
    session_id="s-1",
    user={
        "color": "blue",
        "size": 10,
        "price": 12.5,
        "vip": True,
        "empty": None,
        "weird name": "x",
        "quote": "it's",
    },
)


@pytest.mark.parametrize(
    "expression,matches",
    [
        ("color = 'blue'", True),
        ("color = 'Blue'", False),  # strings compare exactly
        ("color <> 'red'", True),
        ("color != 'blue'", False),
        ("size > 5 AND size <= 10", True),
        ("size >= 11 OR price < 13", True),
        ("size < 10", False),
        ("price = 12.5", True),
        ("size = 10.0", True),  # numbers compare across int and float
        (
            "size + 5 = 15 AND size * 2 = 20 AND size - 1 = 9 AND size / 3 = 3 AND size % 3 = 1",
            True,
        ),
        ("-size = -10", True),
        ("vip = TRUE", True),
        ("vip = false", False),
        ("NOT vip = FALSE", True),
        ("NOT (size > 5)", False),
        ("(color = 'red' OR color = 'blue') AND size = 10", True),
        ("color IN ('red', 'blue')", True),
        ("color NOT IN ('red', 'blue')", False),
        ("size IN (1, 2, 10)", True),
        ("color LIKE 'bl%'", True),
        ("color LIKE 'b_ue'", True),
        ("color LIKE 'b_e'", False),
        ("color NOT LIKE '%u%'", False),
        ("sys.Label LIKE 'order.%'", True),
        ("sys.Subject = 'order.created'", True),
        ("quote LIKE 'it''s'", True),
        ("[weird name] = 'x'", True),
        ("\"weird name\" = 'x'", True),
        ("user.color = 'blue'", True),
        ("missing IS NULL", True),
        ("empty IS NULL", True),
        ("color IS NOT NULL", True),
        ("EXISTS(empty)", True),  # present, with a null value
        ("EXISTS (missing)", False),
        ("NOT EXISTS(missing)", True),
        ("missing = 1", False),  # unknown is not a match
        ("NOT missing = 1", False),  # NOT unknown is still unknown
        ("missing = 1 OR size = 10", True),
        ("missing = 1 AND size = 10", False),
        ("missing IN ('a')", False),
        ("color = 10", False),  # different kinds compare as unknown
        ("size / 0 = 1", False),
        ("sys.MessageId = 'm-1' AND sys.CorrelationId = 'c-9' AND sys.To = 'billing'", True),
        ("sys.ContentType LIKE 'application/%' AND sys.ReplyTo = 'replies'", True),
        ("SYS.messageid = 'm-1'", True),  # system property names are case-insensitive
        ("sys.SessionId = 's-1' AND sys.ReplyToSessionId IS NULL", True),
        ("1 = 1", True),
        ("1 = 0", False),
        ("'50%' LIKE '50!%' ESCAPE '!'", True),
        ("'500' LIKE '50!%' ESCAPE '!'", False),
        ("size > 1e1", False),
        ("size >= 1E1", True),
        ("color = 'blue' and size = 10 or false", True),  # keywords in any case
    ],
)
def test_expressions(expression: str, matches: bool) -> None:
    assert compile_filter(expression)(MESSAGE) is matches


@pytest.mark.parametrize(
    "expression,error",
    [
        ("", "empty expression"),
        ("color =", "expected a value, a property or '(' at position 8"),
        ("color = 'blue", "unexpected character"),
        ("(color = 'blue'", "expected ')'"),
        ("color IN 'blue'", "expected '(' after IN"),
        ("color LIKE 5", "a string pattern after LIKE"),
        ("color LIKE 'x' ESCAPE 'ab'", "one-character string after ESCAPE"),
        ("color NOT 'x'", "IN or LIKE after NOT"),
        ("sys.Colour = 'x'", "unknown system property sys.Colour"),
        ("color = 'blue' extra", "expected end of expression"),
        ("size IS 5", "NULL after IS"),
        ("color # 'x'", "unexpected character '#'"),
    ],
)
def test_syntax_errors_say_where(expression: str, error: str) -> None:
    with pytest.raises(SqlFilterError, match=error.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(expression)
