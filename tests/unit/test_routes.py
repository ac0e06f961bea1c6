"""ASP.NET route templates (semantics §6.1)."""

from __future__ import annotations

import pytest

from funchost.http.routes import RouteTemplate


@pytest.mark.parametrize("template,path,values", [
    ("hello", "hello", {}),
    ("hello", "HELLO/", {}),  # literals are case-insensitive; trailing slash ignored
    ("hello", "hello/x", None),
    ("items/{id}", "items/42", {"id": "42"}),
    ("items/{id}", "items", None),
    ("items/{id?}", "items", {}),
    ("items/{id:int}", "items/42", {"id": "42"}),
    ("items/{id:int}", "items/x", None),
    ("items/{id:int}", "items/99999999999", None),  # outside Int32
    ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
    ("items/{id:int:min(10)}", "items/9", None),
    ("items/{id:range(1,5)}", "items/5", {"id": "5"}),
    ("items/{id:guid}", "items/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
     {"id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}),
    ("items/{flag:bool}", "items/TRUE", {"flag": "TRUE"}),
    ("items/{name:alpha}", "items/abc1", None),
    ("items/{name:length(3)}", "items/abc", {"name": "abc"}),
    ("items/{name:minlength(4)}", "items/abc", None),
    ("items/{d:datetime}", "items/2024-05-01", {"d": "2024-05-01"}),
    ("r/{v:regex(^\\d{{3}}$)}", "r/123", {"v": "123"}),
    ("r/{v:regex(^\\d{{3}}$)}", "r/1234", None),
    ("page/{n=1}", "page", {"n": "1"}),
    ("page/{n=1}", "page/3", {"n": "3"}),
    ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
    ("files/{*rest}", "files", {}),
    ("{name}.{ext}", "a.b.c", {"name": "a.b", "ext": "c"}),
    ("f/{name}.{ext?}", "f/report", {"name": "report"}),
    ("f/{name}.{ext?}", "f/report.pdf", {"name": "report", "ext": "pdf"}),
    ("lit-{id}", "lit-7", {"id": "7"}),
    ("braces/{{x}}", "braces/{x}", {}),
    ("/{*route}", "anything/at/all", {"route": "anything/at/all"}),
])
def test_match(template: str, path: str, values: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == values


@pytest.mark.parametrize("template,message", [
    ("a/{id", "is not closed"),
    ("a/{id:nope}", "unknown route constraint 'nope'"),
    ("a/{id:min(x)}", "needs an integer argument"),
    ("a/{*rest}/b", "catch-all '{*rest}' must be the whole last segment"),
    ("a/{id?}/b", "optional parameter can only be followed by optional"),
    ("a/{x}{y}", "must be separated by a literal"),
    ("a/{x}/{X}", "appears twice"),
    ("a//b", "empty segment"),
    ("a/{v:regex([)}", "not a valid regex"),
])
def test_invalid_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(ValueError, match="route") as err:
        RouteTemplate.parse(template)
    assert message in str(err.value)


def test_precedence_orders_literal_before_constrained_before_plain_before_catch_all() -> None:
    ordered = ["items/special", "items/{id:int}", "items/{id}", "items/{*rest}"]
    shuffled = [ordered[i] for i in (3, 1, 0, 2)]
    assert sorted(shuffled, key=lambda t: RouteTemplate.parse(t).precedence) == ordered
