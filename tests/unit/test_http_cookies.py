"""Response cookies: converted as the Python worker converts them (PW `bindings/datumdef.py`
`parse_to_rpc_http_cookie_list`) and written as the real host's ASP.NET Core writes them
(H `GrpcMessageExtensionUtilities.RpcHttpCookieConverter`, ASP.NET `ResponseCookies.Append`,
`SetCookieHeaderValue.ToString`)."""

from __future__ import annotations

from http.cookies import SimpleCookie

import azure.functions as func
import pytest

from funchost.core.converters import HttpResponseEncoder
from funchost.core.http_cookies import rpc_cookies
from funchost.http.cookies import set_cookie_header


def rendered(*headers: str) -> list[str]:
    return [set_cookie_header(c) for c in rpc_cookies(SimpleCookie(h) for h in headers)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # No attributes: the morsel's empty domain and path are still sent, and written.
        ("session=abc", "session=abc; domain=; path="),
        # Lower-case names, ASP.NET's order whatever the header's, flags without values.
        (
            "id=7; HttpOnly; Path=/app; Secure; Domain=example.com; SameSite=Strict",
            "id=7; domain=example.com; path=/app; secure; samesite=strict; httponly",
        ),
        # Expires parsed by dateutil, written as RFC 1123 in GMT; max-age truncated.
        (
            "t=1; Max-Age=90.7; Expires=2026-10-21T09:28:00+02:00",
            "t=1; expires=Wed, 21 Oct 2026 07:28:00 GMT; max-age=90; domain=; path=",
        ),
        # A date without a zone is the worker's local time: UTC on Azure.
        (
            "t=1; Expires=2026-10-21T07:28:00",
            "t=1; expires=Wed, 21 Oct 2026 07:28:00 GMT; domain=; path=",
        ),
        # The value escaped as Uri.EscapeDataString escapes it; the name as it is.
        ('q="a b;c/é"', "q=a%20b%3Bc%2F%C3%A9; domain=; path="),
        # SameSite other than lax/strict/none is left unset.
        ("s=1; SameSite=Lax", "s=1; domain=; path=; samesite=lax"),
        ("s=1; SameSite=None; Secure", "s=1; domain=; path=; secure; samesite=none"),
        ("s=1; SameSite=whatever", "s=1; domain=; path="),
    ],
)
def test_set_cookie_as_the_host_writes_it(header: str, expected: str) -> None:
    assert rendered(header) == [expected]


def test_every_cookie_of_every_header_in_order() -> None:
    assert rendered("a=1", "b=2; Path=/") == ["a=1; domain=; path=", "b=2; domain=; path=/"]


def test_an_expires_dateutil_cannot_parse_fails_like_the_worker() -> None:
    with pytest.raises(ValueError, match=r"cookie 's': cannot parse its expires value 'someday'"):
        rpc_cookies([SimpleCookie("s=1; Expires=someday")])


def test_a_max_age_that_is_not_a_number_fails_like_the_worker() -> None:
    with pytest.raises(ValueError, match=r"cookie 's': its max-age 'soon' is not a number"):
        rpc_cookies([SimpleCookie("s=1; Max-Age=soon")])


def test_a_negative_max_age_is_refused_when_written_as_aspnet_refuses_it() -> None:
    (cookie,) = rpc_cookies([SimpleCookie("s=1; Max-Age=-5")])
    with pytest.raises(ValueError, match="non-negative"):
        set_cookie_header(cookie)


def test_the_encoder_fails_the_invocation_for_a_bad_cookie() -> None:
    response = func.HttpResponse("x", headers={"Set-Cookie": "s=1; Expires=someday"})
    with pytest.raises(ValueError, match="expires"):
        HttpResponseEncoder.encode(response, expected_type=None)
