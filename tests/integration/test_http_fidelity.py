"""HTTP details that must match the real host's, through a running host: cookies, an HTTP
function that returns None, the home page at `/`, and the warmup function."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funchost.testing import Harness
from tests.integration.harness_support import invocation

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parents[1] / "apps"
APP = APPS / "http_fidelity"
NO_STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[Harness]:
    # Keys enforced, as on Azure: the warmup endpoint must answer without one.
    settings = {"AzureWebJobsStorage": storage_connection_string}
    with Harness(APP, settings=settings, auth=True) as harness:
        yield harness


def test_cookies_as_the_worker_converts_and_aspnet_writes_them_pw_datumdef(
    host: Harness,
) -> None:
    r = host.get("/api/cookies")
    assert r.status_code == 200 and r.text == "cookies set"
    # Every Set-Cookie header becomes an RpcHttpCookie (PW bindings/datumdef.py) that ASP.NET
    # writes: empty domain and path sent as such, lower-case attributes in its own order,
    # the value escaped (H RawScriptResult, ASP.NET ResponseCookies/SetCookieHeaderValue).
    assert r.headers.get_list("set-cookie") == [
        "plain=1; domain=; path=",
        "full=a%20b; expires=Wed, 21 Oct 2026 07:28:00 GMT; max-age=3600; "
        "domain=example.com; path=/app; secure; samesite=lax; httponly",
    ]


def test_a_cookie_whose_expires_cannot_be_parsed_fails_the_invocation(host: Harness) -> None:
    # PW datumdef.parse_cookie_attr_expires re-raises dateutil's error: the invocation fails.
    r = host.get("/api/cookies/bad")
    assert r.status_code == 500
    record = invocation(host, r.json()["invocationId"])
    assert not record.ok
    assert "cookie 'when': cannot parse its expires value 'someday'" in str(record.error)


def test_an_http_function_returning_none_fails_as_the_library_cannot_encode_it(
    host: Harness,
) -> None:
    # PL http.py HttpResponseConverter.encode raises NotImplementedError for None, which the
    # worker turns into a failed invocation (PW bindings/meta.py get_datum): 500 on Azure.
    r = host.get("/api/nothing")
    assert r.status_code == 500
    record = invocation(host, r.json()["invocationId"])
    assert not record.ok and isinstance(record.error, TypeError)
    assert "NoneType" in str(record.error)


def test_the_warmup_function_runs_once_the_host_is_ready(host: Harness) -> None:
    first = host.wait_for("warmup", 1)[0]
    assert first.ok
    assert "Function App instance is warm (WarmUpContext)" in first.logs
    # A warmup trigger on a function with another name never runs, as on Azure.
    assert host.invocations("not_named_warmup") == []
    assert any(
        re.match(r"Function 'not_named_warmup' has a warmup trigger but is not named", line)
        for line in host.logs
    )


def test_admin_warmup_runs_it_again_without_a_key(host: Harness) -> None:
    before = len(host.wait_for("warmup", 1))
    # Any method, anonymous (H FunctionInvocationMiddleware.RequiresAuthz: no authz for it).
    r = host.post("/admin/warmup")
    assert r.status_code == 200 and r.content == b""
    assert len(host.invocations("warmup")) == before + 1
    assert host.get("/admin/warmup").status_code == 200
    # The rest of the admin API still needs the master key.
    assert host.get("/admin/host/status").status_code == 401


def test_home_page_when_no_function_takes_the_root(host: Harness) -> None:
    r = host.get("/")
    assert r.status_code == 200 and "Your Functions app is up and running" in r.text


def test_a_catch_all_app_gets_the_root_with_an_empty_route_prefix() -> None:
    # H HomepageMiddleware: the home page only when no function route matched.
    with Harness(APPS / "asgi_root", settings=NO_STORAGE) as harness:
        r = httpx.get(f"{harness.url}/")
        assert r.status_code == 200 and r.text == "the app's own home page"
        # No warmup function: the admin route answers 404.
        assert httpx.post(f"{harness.url}/admin/warmup").status_code == 404


def test_the_home_page_can_be_turned_off() -> None:
    settings = {**NO_STORAGE, "AzureWebJobsDisableHomepage": "true"}
    with Harness(APP, settings=settings) as harness:
        r = httpx.get(f"{harness.url}/")
        assert r.status_code == 204 and r.content == b""
