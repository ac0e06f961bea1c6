"""Reading Bicep files with the tree-sitter Bicep grammar: declarations, and the values of
literal expressions (strings, numbers, booleans, null, objects, arrays, and for-expressions,
indexing and member access over those), so tests can compare what the templates declare with
what the code uses.

A value that is not a literal (a function call, a reference, an interpolation of one) raises
`NotLiteral`; `${name}` interpolations of variables given in `env` are substituted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


class NotLiteral(ValueError):
    """The expression is not a literal value."""


@dataclass(frozen=True)
class Declaration:
    kind: str  # param, var, resource, module, output
    name: str
    node: Any  # the declaration node
    value: Any  # the node after "=" (None for a param without default)
    type_text: str  # the declared type (param/output) or the quoted type/path (resource/module)
    decorators: tuple[str, ...]
    decorator_nodes: tuple[Any, ...] = ()


def _parser() -> Any:
    from tree_sitter import Language, Parser
    from tree_sitter_bicep import language

    return Parser(Language(language()))


@cache
def tree(path: Path) -> Any:
    return _parser().parse(path.read_bytes())


def text(node: Any) -> str:
    return str(node.text.decode())


def first_error(node: Any) -> Any:
    """The first ERROR or missing node under `node`, or None."""
    if node.type == "ERROR" or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = first_error(child)
        if found is not None:
            return found
    return node


_KINDS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "module_declaration": "module",
    "output_declaration": "output",
}


def declarations(path: Path) -> list[Declaration]:
    found = []
    decorators: list[Any] = []
    for node in tree(path).root_node.children:
        if node.type == "decorators":
            decorators = list(node.children)
            continue
        kind = _KINDS.get(node.type)
        if kind is None:
            if node.type != "comment":
                decorators = []
            continue
        children = [c for c in node.children if c.type != "decorators"]
        own = [d for c in node.children if c.type == "decorators" for d in c.children]
        name = text(children[1])
        eq = next((i for i, c in enumerate(children) if c.type == "="), None)
        value = children[eq + 1] if eq is not None else None
        type_text = text(children[2]) if len(children) > 2 and children[2].type != "=" else ""
        nodes = tuple(decorators + own)
        texts = tuple(text(d) for d in nodes)
        found.append(Declaration(kind, name, node, value, type_text, texts, nodes))
        decorators = []
    return found


def declared(path: Path, kind: str) -> dict[str, Declaration]:
    return {d.name: d for d in declarations(path) if d.kind == kind}


def _string(node: Any, env: dict[str, Any]) -> str:
    parts = []
    for child in node.children:
        if child.type in ("string_content", "escape_sequence"):
            parts.append(text(child).replace("\\'", "'"))
        elif child.type == "interpolation":
            inner = [c for c in child.children if c.type not in ("${", "}")]
            if len(inner) == 1 and inner[0].type == "identifier" and text(inner[0]) in env:
                parts.append(str(env[text(inner[0])]))
            else:
                raise NotLiteral(text(node))
    return "".join(parts)


def _object(node: Any, env: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for prop in node.children:
        if prop.type == "object_property":
            key = prop.children[0]
            name = literal(key, env) if key.type == "string" else text(key)
            out[name] = literal(prop.children[2], env)
    return out


def _array(node: Any, env: dict[str, Any]) -> list[Any]:
    return [literal(c, env) for c in node.children if c.type not in ("[", "]", ",", "comment")]


def _concat(node: Any, env: dict[str, Any]) -> list[Any]:
    if text(node.children[0]) != "concat":
        raise NotLiteral(text(node))
    args = [c for c in node.children[1].children if c.type not in ("(", ")", ",")]
    values = [literal(a, env) for a in args]
    if not all(isinstance(v, list) for v in values):
        raise NotLiteral(text(node))
    return [item for v in values for item in v]


def _identifier(node: Any, env: dict[str, Any]) -> Any:
    if text(node) not in env:
        raise NotLiteral(text(node))
    return env[text(node)]


def _for(node: Any, env: dict[str, Any]) -> list[Any]:
    """`[for x in <literal>: <body>]` and `[for (x, i) in ...: ...]`, the body a literal in x."""
    kids = node.children
    head = kids[2]
    names = (
        [text(c) for c in head.children if c.type in ("loop_variable", "loop_enumerator")]
        if head.type == "for_loop_parameters"
        else [text(head)]
    )
    items = literal(kids[[c.type for c in kids].index("in") + 1], env)
    body = kids[-2]
    if not isinstance(items, list) or body.type == "if_statement":
        raise NotLiteral(text(node))
    # One name binds the item; two, the item and its index.
    bindings = [dict(zip(names, (item, i), strict=False)) for i, item in enumerate(items)]
    return [literal(body, {**env, **bound}) for bound in bindings]


def _subscript(node: Any, env: dict[str, Any]) -> Any:
    """`x[0]`, `x['key']` of a literal."""
    container, index = literal(node.children[0], env), literal(node.children[2], env)
    try:
        return container[index]
    except (KeyError, IndexError, TypeError):
        raise NotLiteral(text(node)) from None


def _member(node: Any, env: dict[str, Any]) -> Any:
    """`x.name` of a literal object."""
    value = literal(node.children[0], env)
    if not isinstance(value, dict) or text(node.children[2]) not in value:
        raise NotLiteral(text(node))
    return value[text(node.children[2])]


def _negative(node: Any, env: dict[str, Any]) -> Any:
    if not text(node).startswith("-"):
        raise NotLiteral(text(node))
    return -literal(node.children[1], env)


_LITERALS: dict[str, Any] = {
    "string": _string,
    "number": lambda node, env: int(text(node)),
    "boolean": lambda node, env: text(node) == "true",
    "null": lambda node, env: None,
    "object": _object,
    "array": _array,
    "identifier": _identifier,
    "call_expression": _concat,
    "unary_expression": _negative,
    "for_statement": _for,
    "subscript_expression": _subscript,
    "member_expression": _member,
}


def literal(node: Any, env: dict[str, Any] | None = None) -> Any:
    """The Python value of a literal expression node (concat() of literal arrays included)."""
    read = _LITERALS.get(node.type)
    if read is None:
        raise NotLiteral(text(node))
    return read(node, env or {})


def literal_vars(path: Path, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every variable of `path` whose value is a literal (possibly naming other such ones, or
    names given in `env`, such as parameter values)."""
    pending = {d.name: d.value for d in declarations(path) if d.kind == "var"}
    env = dict(env or {})
    progress = True
    while progress:
        progress = False
        for name, node in list(pending.items()):
            try:
                env[name] = literal(node, env)
            except NotLiteral:
                continue
            del pending[name]
            progress = True
    return env


def var_value(path: Path, name: str, env: dict[str, Any] | None = None) -> Any:
    env = literal_vars(path, env)
    if name not in env:
        raise NotLiteral(f"var {name} in {path.name} is not a literal")
    return env[name]


def param_default(path: Path, name: str) -> Any:
    value = declared(path, "param")[name].value
    if value is None:
        raise NotLiteral(f"param {name} has no default")
    return literal(value)


def bicepparam_values(path: Path) -> dict[str, Any]:
    """`param x = <value>` of a .bicepparam file; values that are not literals (such as
    readEnvironmentVariable(...)) are given as their source text.

    The Bicep grammar has no .bicepparam rules, so each assignment is read back as a Bicep
    `var` declaration, which has the same expression syntax.
    """
    import re

    source = path.read_text()
    as_vars = re.sub(r"^param(\s+\w+\s*=)", r"var\1", source, flags=re.MULTILINE)
    as_vars = re.sub(r"^using\s+'[^']*'", "", as_vars, flags=re.MULTILINE)
    parsed = _parser().parse(as_vars.encode())
    bad = first_error(parsed.root_node)
    if bad is not None:
        raise SyntaxError(f"{path}:{bad.start_point[0] + 1}: cannot read {text(bad)[:60]!r}")
    values = {}
    for node in parsed.root_node.children:
        if node.type != "variable_declaration":
            continue
        value = node.children[-1]
        try:
            values[text(node.children[1])] = literal(value)
        except NotLiteral:
            values[text(node.children[1])] = text(value)
    return values


def using_target(path: Path) -> str | None:
    """The template a .bicepparam file's `using` names."""
    import re

    match = re.search(r"^using\s+'([^']+)'", path.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def module_params(path: Path, symbol: str) -> dict[str, Any]:
    """The `params: {...}` of module `symbol`, as nodes by name."""
    module = declared(path, "module")[symbol]
    body = object_of(module.value)
    params = property_node(body, "params")
    return {key: node for key, node in properties(params).items()} if params is not None else {}


def object_of(node: Any) -> Any:
    """The object literal a resource/module value declares (through `if (...)` / `[for ...]`)."""
    while node is not None and node.type != "object":
        if node.type in ("if_statement", "for_statement"):
            node = next(c for c in reversed(node.children) if c.type in ("object", "if_statement"))
        else:
            return None
    return node


def properties(obj: Any) -> dict[str, Any]:
    out = {}
    for prop in obj.children:
        if prop.type == "object_property":
            key = prop.children[0]
            name = literal(key) if key.type == "string" else text(key)
            out[name] = prop.children[2]
    return out


def property_node(obj: Any, name: str) -> Any:
    return properties(obj).get(name) if obj is not None else None


def resources(path: Path) -> list[tuple[str, str, Any]]:
    """(symbol, 'Type@version', body object) of every resource declaration in `path`."""
    return [
        (d.name, literal(d.node.children[2]), object_of(d.value))
        for d in declarations(path)
        if d.kind == "resource"
    ]


def walk(node: Any) -> Any:
    yield node
    for child in node.children:
        yield from walk(child)
