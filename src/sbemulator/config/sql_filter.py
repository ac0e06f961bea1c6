"""The SQL filter subset of Service Bus subscription rules, compiled to Python closures.

Supported (keywords are case-insensitive):

- comparisons `=`, `<>`, `!=`, `<`, `>`, `<=`, `>=`; `AND`, `OR`, `NOT`, parentheses;
- `x [NOT] IN (a, b, ...)`, `x [NOT] LIKE 'pat%_' [ESCAPE '!']`, `x IS [NOT] NULL`,
  `EXISTS (x)`;
- arithmetic `+ - * / %` and unary `+`/`-` on numbers;
- literals: 'strings' (a doubled '' is a quote), integers, decimals (1.5, 2e3), TRUE,
  FALSE, NULL;
- properties: `name` or `user.name` (application properties, case-sensitive),
  `sys.Name` (system properties, case-insensitive), `[any name]` or `"any name"` for names
  with other characters.

SQL three-valued logic: a missing user property is NULL, any comparison with NULL is
unknown, and a rule matches only when its expression is TRUE. Values of different kinds
(a string against a number) compare as unknown rather than raising.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class SqlFilterError(ValueError):
    """The expression is not in the supported subset; the message gives the position."""


class FilterSubject(Protocol):
    """What an expression reads from a message."""

    def system_property(self, name: str) -> Any: ...  # name is lower-case, from SYSTEM_PROPERTIES

    @property
    def user_properties(self) -> Mapping[str, Any]: ...


# sys.<name> (lower-cased) the emulator can evaluate; any other is an error, as in Azure.
SYSTEM_PROPERTIES = frozenset(
    {
        "messageid",
        "correlationid",
        "to",
        "replyto",
        "label",
        "subject",
        "contenttype",
        "sessionid",
        "replytosessionid",
        "partitionkey",
        "timetolive",
        "scheduledenqueuetimeutc",
    }
)

Value = Any
Expr = Callable[[FilterSubject], Value]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<delimited>\[[^\]]*\])
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|[=<>(),+\-*/%.])
""",
    re.VERBOSE,
)

_KEYWORDS = frozenset(
    {"and", "or", "not", "in", "like", "escape", "is", "null", "exists", "true", "false"}
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string, number, name, keyword, op, end
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SqlFilterError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        kind = m.lastgroup
        raw = m.group()
        if kind == "string":
            tokens.append(_Tok("string", raw[1:-1].replace("''", "'"), pos))
        elif kind == "number":
            is_float = any(c in raw for c in ".eE")
            tokens.append(_Tok("number", float(raw) if is_float else int(raw), pos))
        elif kind == "delimited":
            tokens.append(_Tok("name", raw[1:-1], pos))
        elif kind == "quoted":
            tokens.append(_Tok("name", raw[1:-1].replace('""', '"'), pos))
        elif kind == "ident":
            low = raw.lower()
            tokens.append(_Tok("keyword", low, pos) if low in _KEYWORDS else _Tok("name", raw, pos))
        elif kind == "op":
            tokens.append(_Tok("op", raw, pos))
        pos = m.end()
    tokens.append(_Tok("end", None, len(text)))
    return tokens


def compile_filter(text: str) -> Callable[[FilterSubject], bool]:
    """Compile `text`; the result is True for messages the filter matches.

    Raises:
        SqlFilterError: syntax outside the subset, or an unknown `sys.` property.
    """
    if not text.strip():
        raise SqlFilterError("empty expression")
    parser = _Parser(text)
    expr = parser.parse_or()
    parser.expect_end()
    return lambda message: expr(message) is True


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False

    def fail(self, what: str) -> SqlFilterError:
        tok = self.peek()
        found = (
            "end of expression" if tok.kind == "end" else repr(self.text[tok.pos : tok.pos + 12])
        )
        return SqlFilterError(f"expected {what} at position {tok.pos + 1}, found {found}")

    def expect(self, kind: str, value: Any, what: str) -> None:
        if not self.accept(kind, value):
            raise self.fail(what)

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.fail("end of expression")

    # -- predicates ----------------------------------------------------------------
    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.accept("keyword", "or"):
            left = _or(left, self.parse_and())
        return left

    def parse_and(self) -> Expr:
        left = self.parse_not()
        while self.accept("keyword", "and"):
            left = _and(left, self.parse_not())
        return left

    def parse_not(self) -> Expr:
        if self.accept("keyword", "not"):
            inner = self.parse_not()
            return lambda m: None if (v := inner(m)) is None else not v
        return self.parse_predicate()

    def parse_predicate(self) -> Expr:
        if self.accept("keyword", "exists"):
            self.expect("op", "(", "'(' after EXISTS")
            prop = self.parse_property_ref()
            self.expect("op", ")", "')'")
            return prop.exists
        left = self.parse_additive()
        tok = self.peek()
        if tok.kind == "op" and tok.value in _COMPARE:
            self.take()
            return _compare(_COMPARE[tok.value], left, self.parse_additive())
        if self.accept("keyword", "is"):
            negate = self.accept("keyword", "not")
            self.expect("keyword", "null", "NULL after IS")
            return (lambda m: left(m) is not None) if negate else (lambda m: left(m) is None)
        negate = self.accept("keyword", "not")
        if self.accept("keyword", "in"):
            return _maybe_not(negate, self.parse_in(left))
        if self.accept("keyword", "like"):
            return _maybe_not(negate, self.parse_like(left))
        if negate:
            raise self.fail("IN or LIKE after NOT")
        return left

    def parse_in(self, left: Expr) -> Expr:
        self.expect("op", "(", "'(' after IN")
        items = [self.parse_additive()]
        while self.accept("op", ","):
            items.append(self.parse_additive())
        self.expect("op", ")", "')' closing the IN list")

        def in_list(m: FilterSubject) -> bool | None:
            value = left(m)
            if value is None:
                return None
            unknown = False
            for item in items:
                eq = _equal(value, item(m))
                if eq:
                    return True
                unknown = unknown or eq is None
            return None if unknown else False

        return in_list

    def parse_like(self, left: Expr) -> Expr:
        tok = self.take()
        if tok.kind != "string":
            self.i -= 1
            raise self.fail("a string pattern after LIKE")
        escape = None
        if self.accept("keyword", "escape"):
            esc = self.take()
            if esc.kind != "string" or len(esc.value) != 1:
                self.i -= 1
                raise self.fail("a one-character string after ESCAPE")
            escape = esc.value
        regex = _like_regex(tok.value, escape)

        def like(m: FilterSubject) -> bool | None:
            value = left(m)
            return None if not isinstance(value, str) else regex.fullmatch(value) is not None

        return like

    # -- expressions ---------------------------------------------------------------
    def parse_additive(self) -> Expr:
        left = self.parse_multiplicative()
        while (tok := self.peek()).kind == "op" and tok.value in ("+", "-"):
            self.take()
            left = _arith(_ARITH[tok.value], left, self.parse_multiplicative())
        return left

    def parse_multiplicative(self) -> Expr:
        left = self.parse_unary()
        while (tok := self.peek()).kind == "op" and tok.value in ("*", "/", "%"):
            self.take()
            left = _arith(_ARITH[tok.value], left, self.parse_unary())
        return left

    def parse_unary(self) -> Expr:
        if self.accept("op", "-"):
            inner = self.parse_unary()
            return lambda m: -v if _is_number(v := inner(m)) else None
        if self.accept("op", "+"):
            return self.parse_unary()
        return self.parse_primary()

    def parse_primary(self) -> Expr:
        tok = self.peek()
        if tok.kind in ("string", "number"):
            self.take()
            value = tok.value
            return lambda m: value
        if tok.kind == "keyword" and tok.value in ("true", "false", "null"):
            self.take()
            constant = {"true": True, "false": False, "null": None}[tok.value]
            return lambda m: constant
        if self.accept("op", "("):
            inner = self.parse_or()
            self.expect("op", ")", "')'")
            return inner
        if tok.kind == "name":
            return self.parse_property_ref().value
        raise self.fail("a value, a property or '('")

    def parse_property_ref(self) -> _Property:
        tok = self.take()
        if tok.kind != "name":
            self.i -= 1
            raise self.fail("a property name")
        scope, name = "user", tok.value
        if tok.value.lower() in ("sys", "user") and self.accept("op", "."):
            nxt = self.take()
            if nxt.kind not in ("name", "keyword"):
                self.i -= 1
                raise self.fail("a property name after '.'")
            scope, name = tok.value.lower(), str(nxt.value)
        if scope == "sys":
            low = name.lower()
            if low not in SYSTEM_PROPERTIES:
                raise SqlFilterError(
                    f"unknown system property sys.{name} at position "
                    f"{tok.pos + 1} (supported: "
                    f"{', '.join(sorted(SYSTEM_PROPERTIES))})"
                )
            return _Property(lambda m: m.system_property(low))
        return _Property(lambda m: m.user_properties.get(name), lambda m: name in m.user_properties)


@dataclass(frozen=True)
class _Property:
    value: Expr
    present: Callable[[FilterSubject], bool] | None = None

    def exists(self, m: FilterSubject) -> bool:
        if self.present is not None:
            return self.present(m)
        return self.value(m) is not None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _comparable(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return True
    return type(a) is type(b) or (isinstance(a, str) and isinstance(b, str))


def _equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None or not _comparable(a, b):
        return None
    return bool(a == b)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


def _compare(op: Callable[[Any, Any], bool], left: Expr, right: Expr) -> Expr:
    def compare(m: FilterSubject) -> bool | None:
        a, b = left(m), right(m)
        if a is None or b is None or not _comparable(a, b):
            return None
        if isinstance(a, bool) and op not in (operator.eq, operator.ne):
            return None  # booleans only support = and <>
        return bool(op(a, b))

    return compare


def _arith(op: Callable[[Any, Any], Any], left: Expr, right: Expr) -> Expr:
    def arith(m: FilterSubject) -> Any:
        a, b = left(m), right(m)
        if not (_is_number(a) and _is_number(b)):
            return None
        if op is operator.truediv and isinstance(a, int) and isinstance(b, int):
            return None if b == 0 else int(a / b)  # integer division truncates, as in T-SQL
        try:
            return op(a, b)
        except ZeroDivisionError:
            return None

    return arith


def _and(left: Expr, right: Expr) -> Expr:
    def both(m: FilterSubject) -> bool | None:
        a = left(m)
        if a is False:
            return False
        b = right(m)
        if b is False:
            return False
        return True if a is True and b is True else None

    return both


def _or(left: Expr, right: Expr) -> Expr:
    def either(m: FilterSubject) -> bool | None:
        a = left(m)
        if a is True:
            return True
        b = right(m)
        if b is True:
            return True
        return False if a is False and b is False else None

    return either


def _maybe_not(negate: bool, inner: Expr) -> Expr:
    if not negate:
        return inner
    return lambda m: None if (v := inner(m)) is None else not v


def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)
