"""Response cookies as the Python worker hands them to the host.

The library's `http` converter turns each `Set-Cookie` header of a `func.HttpResponse` into a
`SimpleCookie`; the worker then converts every cookie into an `RpcHttpCookie` (PW
`bindings/datumdef.py` `parse_to_rpc_http_cookie_list`, `bindings/nullable_converters.py`)
after the function returned, inside the invocation: a cookie it cannot convert (an
`Expires` dateutil cannot parse, a `Max-Age` that is not a number) fails the invocation.
What the worker sends is what the host renders (`funchost.http.cookies`):

- domain and path are always sent, as the morsel's value, which is `""` when the header had
  none (so the host writes `domain=; path=`);
- expires is parsed by dateutil and sent as whole seconds since the epoch;
- secure and httponly are sent as booleans;
- samesite `lax`, `strict` or `none` (any case) is sent as such, anything else as unset;
- max-age is sent as a number when the attribute is not empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from http.cookies import Morsel, SimpleCookie
from typing import Any

from dateutil import parser as date_parser

SAME_SITE = ("lax", "strict", "none")


@dataclass(frozen=True)
class RpcCookie:
    """One `RpcHttpCookie`, as the worker fills it in.

    Attributes:
        expires: UTC, whole seconds; None when the header had no `Expires`.
        same_site: "lax", "strict", "none", or "" (unset).
        max_age: seconds; None when the header had no `Max-Age`.
    """

    name: str
    value: str
    domain: str
    path: str
    expires: datetime | None
    secure: bool
    http_only: bool
    same_site: str
    max_age: float | None


def rpc_cookies(cookies: Iterable[SimpleCookie]) -> tuple[RpcCookie, ...]:
    """Every cookie of every parsed `Set-Cookie` header, in order.

    Raises:
        ValueError: a cookie's `Expires` or `Max-Age` cannot be converted (the worker fails
            the invocation for it).
    """
    return tuple(_rpc_cookie(name, morsel) for cookie in cookies for name, morsel in cookie.items())


def _rpc_cookie(name: str, morsel: Morsel[Any]) -> RpcCookie:
    same_site = str(morsel["samesite"]).lower()
    return RpcCookie(
        name=name,
        value=morsel.value,
        domain=str(morsel["domain"]),
        path=str(morsel["path"]),
        expires=_expires(name, str(morsel["expires"])),
        secure=bool(morsel["secure"]),
        http_only=bool(morsel["httponly"]),
        same_site=same_site if same_site in SAME_SITE else "",
        max_age=_max_age(name, morsel["max-age"]),
    )


def _expires(name: str, raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = date_parser.parse(raw)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"cookie '{name}': cannot parse its expires value {raw!r} ({exc}); "
            f"use a date such as 'Wed, 21 Oct 2026 07:28:00 GMT'"
        ) from None
    # A date without a zone is local time to the worker, and Azure's workers run in UTC.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    seconds = int(parsed.timestamp())  # a protobuf Timestamp of whole seconds
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _max_age(name: str, raw: Any) -> float | None:
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"cookie '{name}': its max-age {text!r} is not a number of seconds"
        ) from None
    return value


__all__ = ["RpcCookie", "rpc_cookies"]
