"""ASP.NET Core route templates as Functions HTTP routes use them (semantics §6.1).

`items/{id:int}`, optional `{id?}`, defaults `{page=1}`, catch-all `{*rest}`, complex
segments `{name}.{ext}`, `{{`/`}}` escapes, case-insensitive literals. When several routes
match, the most specific wins, by ASP.NET's inbound precedence (literal < complex segment <
constrained parameter < parameter < catch-all, segment by segment).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal

from funchost.http.constraints import Check, make_constraint


@dataclass(frozen=True)
class Param:
    name: str
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    constraints: tuple[tuple[str, Check], ...] = ()


@dataclass(frozen=True)
class Literal:
    text: str


Part = Param | Literal


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[tuple[Part, ...], ...]
    pattern: re.Pattern[str]
    params: tuple[Param, ...]

    @classmethod
    def parse(cls, text: str) -> RouteTemplate:
        """Raises ValueError saying what is wrong with the template and where."""
        trimmed = text.strip().strip("/")
        segments = tuple(_parse_segment(text, s) for s in _split(text, trimmed)) if trimmed else ()
        params = tuple(p for seg in segments for p in seg if isinstance(p, Param))
        _validate(text, segments, params)
        return cls(text, segments, re.compile(_regex(segments), re.IGNORECASE | re.DOTALL), params)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for `path` (relative to the route prefix), or None."""
        m = self.pattern.fullmatch(path.strip("/"))
        if m is None:
            return None
        values: dict[str, str] = {}
        for i, param in enumerate(self.params):
            value = m.group(f"p{i}")
            if value is None or (param.catch_all and value == ""):
                if param.default is not None:
                    values[param.name] = param.default
                continue
            if not all(check(value) for _, check in param.constraints):
                return None
            values[param.name] = value
        return values

    @property
    def precedence(self) -> Decimal:
        """Lower is more specific (ASP.NET `RoutePrecedence.ComputeInbound`)."""
        total = Decimal(0)
        for i, seg in enumerate(self.segments):
            total += Decimal(_digit(seg)) / (Decimal(10) ** i)
        return total


def _digit(seg: tuple[Part, ...]) -> int:
    if len(seg) > 1:
        return 2
    part = seg[0]
    if isinstance(part, Literal):
        return 1
    if part.catch_all:
        return 5
    return 3 if part.constraints else 4


def _split(template: str, text: str) -> list[str]:
    """Split on '/' outside parameters (a regex constraint may contain '/')."""
    out, cur, in_param, i = [], [], False, 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("{{", "}}"):  # escaped brace, inside or outside a parameter
            cur.append(pair)
            i += 2
            continue
        c = text[i]
        if c == "{":
            in_param = True
        elif c == "}":
            in_param = False
        if c == "/" and not in_param:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if in_param:
        raise ValueError(f"route '{template}': a '{{' is not closed")
    out.append("".join(cur))
    return out


def _parse_segment(template: str, seg: str) -> tuple[Part, ...]:
    if seg == "":
        raise ValueError(f"route '{template}': empty segment ('//')")
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(seg):
        if seg.startswith("{{", i):
            literal.append("{")
            i += 2
        elif seg.startswith("}}", i):
            literal.append("}")
            i += 2
        elif seg[i] == "{":
            if literal:
                parts.append(Literal("".join(literal)))
                literal = []
            body, i = _read_param(template, seg, i + 1)
            parts.append(_parse_param(template, body))
        elif seg[i] == "}":
            raise ValueError(f"route '{template}': unmatched '}}' (write '}}}}' for a literal)")
        else:
            literal.append(seg[i])
            i += 1
    if literal:
        parts.append(Literal("".join(literal)))
    _check_separated(template, parts)
    return tuple(parts)


def _check_separated(template: str, parts: list[Part]) -> None:
    for a, b in itertools.pairwise(parts):
        if isinstance(a, Param) and isinstance(b, Param):
            raise ValueError(
                f"route '{template}': parameters '{a.name}' and '{b.name}' must be "
                f"separated by a literal"
            )


def _read_param(template: str, seg: str, i: int) -> tuple[str, int]:
    body: list[str] = []
    parens = 0
    while i < len(seg):
        c = seg[i]
        if seg.startswith("}}", i) and parens:
            body.append("}")
            i += 2
            continue
        if seg.startswith("{{", i):
            body.append("{")
            i += 2
            continue
        if c == "(":
            parens += 1
        elif c == ")" and parens:
            parens -= 1
        elif c == "}" and not parens:
            return "".join(body), i + 1
        body.append(c)
        i += 1
    raise ValueError(f"route '{template}': parameter '{{{''.join(body)}' is not closed")


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_param(template: str, body: str) -> Param:
    catch_all = body.startswith("*")
    text = body.lstrip("*")
    m = _NAME.match(text)
    if not m:
        raise ValueError(f"route '{template}': '{{{body}}}' has no valid parameter name")
    name, rest = m.group(0), text[m.end() :]
    constraints: list[tuple[str, Check]] = []
    optional, default = False, None
    while rest:
        if rest.startswith(":"):
            cm = _NAME.match(rest, 1)
            if not cm:
                raise ValueError(f"route '{template}': '{{{body}}}' has an empty constraint")
            cname, j = cm.group(0), cm.end()
            args = None
            if rest.startswith("(", j):
                args, j = _read_args(template, rest, j + 1)
            try:
                constraints.append((cname, make_constraint(cname, args)))
            except ValueError as exc:
                raise ValueError(f"route '{template}': {exc}") from None
            rest = rest[j:]
        elif rest == "?":
            optional, rest = True, ""
        elif rest.startswith("="):
            default, rest = rest[1:], ""
            optional = True
        else:
            raise ValueError(f"route '{template}': cannot read '{{{body}}}' at '{rest}'")
    return Param(name, optional, default, catch_all, tuple(constraints))


def _read_args(template: str, text: str, i: int) -> tuple[str, int]:
    depth, out = 1, list[str]()
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ValueError(f"route '{template}': a constraint's '(' is not closed")


def _validate(
    template: str, segments: tuple[tuple[Part, ...], ...], params: tuple[Param, ...]
) -> None:
    names = [p.name.lower() for p in params]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"route '{template}': parameter '{sorted(dupes)[0]}' appears twice")
    for i, seg in enumerate(segments):
        for j, part in enumerate(seg):
            if not isinstance(part, Param):
                continue
            if part.catch_all and (i != len(segments) - 1 or len(seg) != 1):
                raise ValueError(
                    f"route '{template}': catch-all '{{*{part.name}}}' must be "
                    f"the whole last segment"
                )
            if part.optional and part.default is None and j != len(seg) - 1:
                raise ValueError(
                    f"route '{template}': optional '{part.name}' must be last in its segment"
                )
    # Optional segments may only be followed by optional segments.
    seen_optional = False
    for seg in segments:
        whole_optional = (
            len(seg) == 1 and isinstance(seg[0], Param) and (seg[0].optional or seg[0].catch_all)
        )
        if seen_optional and not whole_optional:
            raise ValueError(
                f"route '{template}': an optional parameter can only be followed "
                f"by optional parameters"
            )
        seen_optional = seen_optional or whole_optional


def _regex(segments: tuple[tuple[Part, ...], ...]) -> str:
    counter = iter(range(1 << 30))
    out = []
    for i, seg in enumerate(segments):
        sep = "/" if i else ""
        if len(seg) == 1 and isinstance(seg[0], Param):
            p = seg[0]
            group = f"(?P<p{next(counter)}>{'.*' if p.catch_all else '[^/]+'})"
            out.append(f"(?:{sep}{group})?" if (p.optional or p.catch_all) else sep + group)
            continue
        # Parameters are greedy, so `{name}.{ext}` on "a.b.c" gives ext "c" as ASP.NET's
        # right-to-left matching does; before an optional last part they turn lazy.
        optional_tail = isinstance(seg[-1], Param) and seg[-1].optional
        body = []
        for j, part in enumerate(seg):
            if isinstance(part, Literal):
                body.append(re.escape(part.text))
                continue
            n = next(counter)
            if j == len(seg) - 1 and part.optional and body:
                lit = body.pop()
                body.append(f"(?:{lit}(?P<p{n}>[^/.]+))?")
            else:
                lazy = "?" if optional_tail and j == len(seg) - 3 else ""
                body.append(f"(?P<p{n}>[^/]+{lazy})")
        out.append(sep + "".join(body))
    return "".join(out)
