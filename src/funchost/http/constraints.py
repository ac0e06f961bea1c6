"""ASP.NET Core route constraints (`{id:int}`, `{name:regex(...)}`, ...), as Functions
routes use them (semantics §6.1)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

Check = Callable[[str], bool]


def _int_range(bits: int) -> Check:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def check(v: str) -> bool:
        return bool(re.fullmatch(r"[+-]?\d+", v.strip())) and low <= int(v) <= high

    return check


def _float(v: str) -> bool:
    try:
        float(v)
        return v.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity")
    except ValueError:
        return False


def _guid(v: str) -> bool:
    try:
        uuid.UUID(v.strip("{}()"))
        return True
    except ValueError:
        return False


def _datetime(v: str) -> bool:
    for parse in (
        datetime.fromisoformat,
        lambda s: datetime.strptime(s, "%m/%d/%Y"),
        lambda s: datetime.strptime(s, "%m/%d/%Y %H:%M:%S"),
    ):
        try:
            parse(v)
            return True
        except ValueError:
            pass
    return False


def _number(arg: str, what: str) -> int:
    try:
        return int(arg.strip())
    except ValueError:
        raise ValueError(
            f"route constraint '{what}' needs an integer argument, got '{arg}'"
        ) from None


def _args(name: str, raw: str | None, count: tuple[int, ...]) -> list[str]:
    args = [] if raw is None else [a for a in raw.split(",")]
    if len(args) not in count:
        raise ValueError(
            f"route constraint '{name}' takes {' or '.join(map(str, count))} "
            f"argument(s), got {len(args)}"
        )
    return args


def make_constraint(name: str, raw_args: str | None) -> Check:
    """Build the check for one constraint; ValueError names an unknown or malformed one."""
    key = name.lower()
    simple: dict[str, Check] = {
        "int": _int_range(32),
        "long": _int_range(64),
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "guid": _guid,
        "datetime": _datetime,
        "decimal": _float,
        "double": _float,
        "float": _float,
        "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
        "required": lambda v: v != "",
    }
    if key in simple:
        _args(name, raw_args, (0,))
        return simple[key]
    if key in ("min", "max"):
        (arg,) = _args(name, raw_args, (1,))
        n = _number(arg, name)
        ok = _int_range(64)
        return (
            (lambda v: ok(v) and int(v) >= n) if key == "min" else (lambda v: ok(v) and int(v) <= n)
        )
    if key == "range":
        lo, hi = (_number(a, name) for a in _args(name, raw_args, (2,)))
        ok = _int_range(64)
        return lambda v: ok(v) and lo <= int(v) <= hi
    if key in ("minlength", "maxlength"):
        (arg,) = _args(name, raw_args, (1,))
        n = _number(arg, name)
        return (lambda v: len(v) >= n) if key == "minlength" else (lambda v: len(v) <= n)
    if key == "length":
        args = [_number(a, name) for a in _args(name, raw_args, (1, 2))]
        lo, hi = (args[0], args[0]) if len(args) == 1 else (args[0], args[1])
        return lambda v: lo <= len(v) <= hi
    if key == "regex":
        if raw_args is None:
            raise ValueError("route constraint 'regex' needs a pattern: regex(^\\d+$)")
        try:
            # ASP.NET's RegexRouteConstraint: IgnoreCase, not anchored unless the pattern is.
            pattern = re.compile(raw_args, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(
                f"route constraint regex({raw_args}) is not a valid regex: {exc}"
            ) from None
        return lambda v: pattern.search(v) is not None
    raise ValueError(
        f"unknown route constraint '{name}' (known: alpha, bool, datetime, decimal, "
        f"double, float, guid, int, length, long, max, maxlength, min, minlength, "
        f"range, regex, required)"
    )
