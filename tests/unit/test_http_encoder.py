"""The fast `http` encoder builds exactly what the library's converter builds."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta

from funchost.core.converters import HttpResponseEncoder
from funchost.core.http_cookies import rpc_cookies

LIBRARY = meta.get_binding_registry().get("http")


def plain(datum: Any) -> Any:
    """A comparable form of a datum tree (the library's SimpleCookie objects converted as
    the worker converts them, which the fast encoder does itself)."""
    if isinstance(datum, meta.Datum):
        return (datum.type, plain(datum.value))
    if isinstance(datum, dict):
        return {k: plain(v) for k, v in sorted(datum.items(), key=lambda kv: kv[0].lower())}
    if isinstance(datum, list) and all(isinstance(c, SimpleCookie) for c in datum):
        return rpc_cookies(datum)
    return datum


@pytest.mark.parametrize("make", [
    lambda: func.HttpResponse("hello"),
    lambda: func.HttpResponse(b"\x00\x01", mimetype="application/octet-stream", status_code=201),
    lambda: func.HttpResponse('{"a": 1}', mimetype="application/json", charset="latin-1"),
    lambda: func.HttpResponse("x", headers={"Content-Type": "text/csv", "X-A": "1"}),
    lambda: func.HttpResponse(status_code=204),
    lambda: func.HttpResponse("c", headers={"Set-Cookie": "a=1; Path=/; HttpOnly", "X-B": "2"}),
    lambda: func.HttpResponse(
        "c", headers={"Set-Cookie": "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60"}
    ),
    lambda: func.HttpResponse(status_code=302, headers={"Location": "/x"}),
])
def test_same_datum_as_the_library(make: Any) -> None:
    assert plain(HttpResponseEncoder.encode(make(), expected_type=None)) == \
        plain(LIBRARY.encode(make(), expected_type=None))


def test_strings_go_through_the_library() -> None:
    assert plain(HttpResponseEncoder.encode("text", expected_type=None)) == ("string", "text")
