"""Every resource type, API version and property name in infra/ exists in the type
definitions the Bicep compiler uses (Azure/bicep-types-az), as pruned into
tests/infra/bicep_types.json by extract_bicep_types.py; string values of enum properties are
among the allowed ones, and no read-only property is set.

Object literals are followed through variables, for-expressions, union(), concat() and
ternaries, so settings built in variables (autoscale rules, app settings) are checked too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra import bicep, need

TYPES = json.loads((Path(__file__).with_name("bicep_types.json")).read_text())
BICEP_FILES = sorted(bicep.INFRA.rglob("*.bicep"))
KEYWORDS = {"parent", "scope", "dependsOn"}


@pytest.fixture(autouse=True)
def _grammar() -> None:
    need("tree_sitter_bicep", "tree-sitter-bicep")


class Checker:
    def __init__(self, path: Path) -> None:
        self.vars = {d.name: d.value for d in bicep.declarations(path) if d.kind == "var"}
        self.errors: list[str] = []

    def objects(self, node: Any) -> list[Any]:
        """Object literals an expression can evaluate to."""
        t = node.type
        if t == "object":
            return [node]
        if t == "identifier" and bicep.text(node) in self.vars:
            return self.objects(self.vars[bicep.text(node)])
        if t == "for_statement":
            return self.objects(node.children[-2])
        if t == "if_statement":
            return self.objects(node.children[-1])
        if t == "ternary_expression":
            return self.objects(node.children[2]) + self.objects(node.children[4])
        if t == "parenthesized_expression":
            return self.objects(node.children[1])
        if t == "call_expression" and bicep.text(node.children[0]) == "union":
            return [o for a in node.children[1].children for o in self.objects(a)]
        return []

    def elements(self, node: Any) -> list[Any]:
        """Array elements an expression can evaluate to."""
        t = node.type
        if t == "array":
            return [c for c in node.children if c.type not in ("[", "]", ",", "comment")]
        if t == "for_statement":
            return [node.children[-2]]
        if t == "identifier" and bicep.text(node) in self.vars:
            return self.elements(self.vars[bicep.text(node)])
        if t == "ternary_expression":
            return self.elements(node.children[2]) + self.elements(node.children[4])
        if t == "call_expression" and bicep.text(node.children[0]) in ("concat", "union"):
            return [e for a in node.children[1].children for e in self.elements(a)]
        return []

    def check(self, shape: dict[str, Any], node: Any, where: str, top: bool = False) -> None:
        if "enum" in shape and node.type == "string":
            try:
                value = bicep.literal(node)
            except bicep.NotLiteral:
                value = None
            if value is not None and value.lower() not in {v.lower() for v in shape["enum"]}:
                self.errors.append(f"{where}: {value!r} is not one of {shape['enum']}")
        if "items" in shape:
            for element in self.elements(node):
                self.check(shape["items"], element, f"{where}[]")
        if "properties" in shape:
            for obj in self.objects(node):
                self.check_object(shape, obj, where, top)

    def check_object(self, shape: dict[str, Any], obj: Any, where: str, top: bool) -> None:
        props = shape["properties"]
        for name, value in bicep.properties(obj).items():
            if top and name in KEYWORDS:
                continue
            if name not in props:
                if not shape.get("map"):
                    self.errors.append(f"{where}.{name}: no such (writable) property")
                continue
            self.check(props[name], value, f"{where}.{name}")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(bicep.INFRA).as_posix())
def test_types_versions_and_properties_exist(path: Path) -> None:
    checker = Checker(path)
    for decl in bicep.declarations(path):
        if decl.kind != "resource":
            continue
        type_version = bicep.literal(decl.node.children[2])
        assert type_version in TYPES, (
            f"{type_version} is not in tests/infra/bicep_types.json: a type or API version that "
            "does not exist, or a new one: run tests/infra/extract_bicep_types.py"
        )
        if b" existing" in decl.node.text:
            continue
        body = bicep.object_of(decl.value)
        checker.check(TYPES[type_version], body, f"{path.name}:{decl.name}", top=True)
    assert not checker.errors, "\n".join(checker.errors)


def test_the_extract_covers_exactly_the_types_in_use() -> None:
    used = {tv for path in BICEP_FILES for _, tv, _ in bicep.resources(path)}
    assert used == set(TYPES), f"regenerate bicep_types.json: {sorted(used ^ set(TYPES))}"


def test_the_checker_catches_a_wrong_property(tmp_path: Path) -> None:
    sample = tmp_path / "bad.bicep"
    sample.write_text(
        "var rules = [\n  {\n    metricTrigger: {\n      metricNam: 'CpuPercentage'\n"
        "    }\n  }\n]\n"
        "resource s 'Microsoft.Insights/autoscalesettings@2022-10-01' = {\n"
        "  name: 'x'\n  location: 'y'\n  properties: {\n    profiles: [\n      {\n"
        "        rules: concat(rules, [])\n      }\n    ]\n  }\n}\n"
    )
    checker = Checker(sample)
    (decl,) = [d for d in bicep.declarations(sample) if d.kind == "resource"]
    checker.check(
        TYPES["Microsoft.Insights/autoscalesettings@2022-10-01"],
        bicep.object_of(decl.value),
        "bad",
        top=True,
    )
    assert any("metricNam" in e for e in checker.errors), checker.errors
