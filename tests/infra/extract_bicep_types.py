"""Regenerate tests/infra/bicep_types.json from a copy of Azure/bicep-types-az.

    python -m tests.infra.extract_bicep_types /path/to/bicep-types-az

The file holds, for every `Type@apiVersion` that infra/ declares, the writable property names
of its body as a tree (objects, array items, string enums, free-form maps), pruned from the
generated type definitions the Bicep compiler itself uses (generated/**/types.json). The
test (test_bicep_types.py) then checks every resource type, API version and property name in
infra/ without the compiler or the 300 MB repository. Run this after adding a resource type
or changing an API version; the test names what is missing.

The copy may be a checkout (with generated/ in it) or a bare/mirror git directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from tests.infra import bicep

OUT = Path(__file__).with_name("bicep_types.json")
READ_ONLY, REQUIRED = 2, 1
MAX_DEPTH = 12


class Source:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.checkout = (root / "generated").is_dir()

    @cache  # noqa: B019 - one Source per run
    def files(self) -> list[str]:
        if self.checkout:
            return [
                p.relative_to(self.root).as_posix()
                for p in (self.root / "generated").rglob("types.json")
            ]
        listing = self._git("ls-tree", "-r", "--name-only", "HEAD", "generated")
        return [p for p in listing.splitlines() if p.endswith("/types.json")]

    @cache  # noqa: B019
    def load(self, path: str) -> list[dict[str, Any]]:
        text = (
            (self.root / path).read_text() if self.checkout else self._git("show", f"HEAD:{path}")
        )
        return list(json.loads(text))

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), *args], check=True, capture_output=True, text=True
        ).stdout

    def resource(self, type_version: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        rtype, version = type_version.split("@")
        provider = rtype.split("/")[0].lower()
        for path in self.files():
            parts = path.split("/")
            if parts[-3] != provider or parts[-2] != version:
                continue
            types = self.load(path)
            for t in types:
                if t.get("$type") == "ResourceType" and t["name"].lower() == type_version.lower():
                    return types, t
        return None


def _deref(types: list[dict[str, Any]], ref: dict[str, Any]) -> dict[str, Any]:
    return types[int(ref["$ref"].split("/")[-1])] if "$ref" in ref else ref


def _props(types: list[dict[str, Any]], t: dict[str, Any]) -> dict[str, Any]:
    if t["$type"] == "ObjectType":
        return dict(t.get("properties", {}))
    props = dict(t.get("baseProperties", {}))
    for element in t["elements"].values():
        props.update(_deref(types, element).get("properties", {}))
    props[t["discriminator"]] = {"type": {"$type": "StringType"}, "flags": REQUIRED}
    return props


def prune(types: list[dict[str, Any]], ref: dict[str, Any], depth: int = 0) -> Any:
    """The writable shape of a type: {"properties": {...}} / {"items": ...} / {"enum": [...]}
    / {"map": true} (free-form object) / {} (scalar or deeper than MAX_DEPTH)."""
    t = _deref(types, ref)
    kind = t["$type"]
    if depth > MAX_DEPTH:
        return {}
    if kind in ("ObjectType", "DiscriminatedObjectType"):
        shape: dict[str, Any] = {
            "properties": {
                name: prune(types, p["type"], depth + 1)
                for name, p in sorted(_props(types, t).items())
                if not (p.get("flags", 0) & READ_ONLY and not p.get("flags", 0) & REQUIRED)
            }
        }
        if t.get("additionalProperties") is not None:
            shape["map"] = True
        return shape
    if kind == "ArrayType":
        return {"items": prune(types, t["itemType"], depth + 1)}
    if kind == "UnionType":
        options = [_deref(types, e) for e in t["elements"]]
        if all(o["$type"] == "StringLiteralType" for o in options):
            return {"enum": sorted(o["value"] for o in options)}
        return {}
    return {}


def used_types() -> list[str]:
    return sorted(
        {
            type_version
            for path in sorted(bicep.INFRA.rglob("*.bicep"))
            for _, type_version, _ in bicep.resources(path)
        }
    )


def main(argv: list[str]) -> int:
    source = Source(Path(argv[1]))
    out: dict[str, Any] = {}
    for type_version in used_types():
        found = source.resource(type_version)
        if found is None:
            print(f"not in Azure/bicep-types-az: {type_version}", file=sys.stderr)  # noqa: T201
            return 1
        types, resource = found
        out[type_version] = prune(types, resource["body"])
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(out)} resource types")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
