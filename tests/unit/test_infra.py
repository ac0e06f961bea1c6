"""Static checks of the Bicep templates in infra/ (no Azure, no Bicep compiler needed).

They catch what only a compiler or a deployment would otherwise catch, or nothing would: a
module path or parameter that does not line up, an unbalanced bracket or unclosed string, an
app setting the functions need that the templates do not set, entity names that drifted from
the jobs library's defaults, and app-splitting settings that name functions that do not exist.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
PARAMS = INFRA / "main.bicepparam"
FUNCTIONAPP = INFRA / "modules" / "functionapp.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
APP_SOURCES = [REPO / "function_app.py", *sorted((REPO / "functions").rglob("*.py"))]

# Decorators of azure.functions.FunctionApp / Blueprint that make a Python function a Function.
FUNCTION_DECORATORS = {
    "route", "function_name", "queue_trigger", "blob_trigger", "timer_trigger", "schedule",
    "service_bus_queue_trigger", "service_bus_topic_trigger", "event_grid_trigger",
    "event_hub_message_trigger", "cosmos_db_trigger", "generic_trigger",
}


# --- a little Bicep reading --------------------------------------------------------------------

def _string_end(text: str, start: int) -> int:
    """Index just past the '...' string opening at `start` (escapes, ${...} interpolation)."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == "'":
            return i + 1
        elif ch == "\n":
            raise SyntaxError(f"string opened on line {_line(text, start)} not closed on it")
        elif text.startswith("${", i):
            i = _interpolation_end(text, i + 2)
        else:
            i += 1
    raise SyntaxError(f"string not closed (line {_line(text, start)})")


def _interpolation_end(text: str, i: int) -> int:
    depth = 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = _string_end(text, i)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SyntaxError("interpolation not closed")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def code_only(text: str, keep_strings: bool = False) -> str:
    """`text` with comments (and string contents, unless `keep_strings`) blanked out; same
    length and lines, so offsets found in it hold in `text`."""
    def blank(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    out, i = [], 0
    while i < len(text):
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
        elif text.startswith("'''", i):
            end = text.find("'''", i + 3)
            if end < 0:
                raise SyntaxError(f"multi-line string not closed (line {_line(text, i)})")
            end += 3
        elif text[i] == "'":
            end = _string_end(text, i)
            out.append(text[i:end] if keep_strings else "'" + blank(text[i + 1:end - 1]) + "'")
            i = end
            continue
        else:
            out.append(text[i])
            i += 1
            continue
        out.append(blank(text[i:end]))
        i = end
    return "".join(out)


def matching_close(code: str, open_at: int) -> int:
    """Index of the bracket closing the one at `open_at` (in code_only text)."""
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] in "([{":
            depth += 1
        elif code[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    raise SyntaxError(f"bracket at line {_line(code, open_at)} never closed")


def block_after(text: str, pattern: str) -> str:
    """The original text inside the bracket that follows the first match of `pattern`."""
    code = code_only(text)
    match = re.search(pattern, code, re.MULTILINE)
    assert match, f"no match for {pattern!r}"
    open_at = match.end() - 1
    assert code[open_at] in "[{", f"{pattern!r} must end at an opening bracket"
    return text[open_at + 1:matching_close(code, open_at)]


def top_level_keys(body: str) -> set[str]:
    """Property names of an object literal body (nested objects skipped)."""
    keys, depth = set(), 0
    for raw, code in zip(body.splitlines(), code_only(body).splitlines()):
        if depth == 0 and (m := re.match(r"\s*'?([\w.-]+)'?\s*:", raw)):
            keys.add(m.group(1))
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    return keys


def quoted(body: str) -> list[str]:
    """The string literals in `body`, comments ignored."""
    return re.findall(r"'([^']*)'", code_only(body, keep_strings=True))


def declared_params(path: Path) -> dict[str, bool]:
    """param name -> whether it has a default."""
    return {m.group(1): "=" in m.group(2)
            for m in re.finditer(r"^param\s+(\w+)\s+([^\n]*)$", code_only(path.read_text()),
                                 re.MULTILINE)}


def module_uses(path: Path) -> list[tuple[str, Path, set[str]]]:
    """(symbol, module file, parameter names passed) for each `module` in `path`."""
    text, uses = path.read_text(), []
    for m in re.finditer(r"^module\s+(\w+)\s+'([^']+)'", text, re.MULTILINE):
        body = block_after(text[m.start():], r"\A[^{]*\{")
        params = set()
        if "params:" in body:
            params = top_level_keys(block_after(body, r"^\s*params:\s*\{"))
        uses.append((m.group(1), path.parent / m.group(2), params))
    return uses


def setting_names(var: str) -> set[str]:
    """Setting names in functionapp.bicep's `var <var> = [ {name: ..., value: ...} ... ]`."""
    body = block_after(FUNCTIONAPP.read_text(), rf"^var\s+{var}\s*=\s*\[")
    return set(re.findall(r"^\s*name:\s*'([^']+)'", code_only(body, keep_strings=True),
                          re.MULTILINE))


def shared_app_settings() -> set[str]:
    """Keys of main.bicep's sharedAppSettings (passed to both apps as extraAppSettings)."""
    return top_level_keys(block_after(MAIN.read_text(), r"^var\s+sharedAppSettings\s*=\s*\{"))


def configured(connection: str, names: set[str]) -> bool:
    """Whether `connection` resolves as the Functions host resolves a binding's connection:
    AzureWebJobs<name> then <name>, as a value or as a <name>__<key> identity section."""
    candidates = [connection] if connection.startswith("AzureWebJobs") else [
        f"AzureWebJobs{connection}", connection]
    return any(n.lower() == c.lower() or n.lower().startswith(c.lower() + "__")
               for c in candidates for n in names)


# --- the app's side -------------------------------------------------------------------------

def app_functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(function name, def) of every Function the app registers."""
    found = []
    for source in APP_SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name, is_function = node.name, False
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) \
                        and deco.func.attr in FUNCTION_DECORATORS:
                    is_function = True
                    if deco.func.attr == "function_name":
                        name = next(ast.literal_eval(a) for a in [*deco.args, *(
                            k.value for k in deco.keywords if k.arg == "name")])
            if is_function:
                found.append((name, node))
    return found


def app_keyword_strings(keyword: str) -> set[str]:
    """String values of `keyword=` in the app's binding decorators."""
    found = set()
    for source in APP_SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call):
                found |= {k.value.value for k in node.keywords if k.arg == keyword
                          and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
    return found


# --- the tests ------------------------------------------------------------------------------

def _rel(path: Path) -> str:
    return path.relative_to(INFRA).as_posix()


@pytest.mark.parametrize("path", [*BICEP_FILES, PARAMS], ids=_rel)
def test_brackets_balance_and_strings_close(path: Path) -> None:
    code = code_only(path.read_text())  # raises on a string left open
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(code):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in ")]}":
            assert stack, f"unmatched {ch!r} at line {_line(code, i)}"
            opener, at = stack.pop()
            assert "([{".index(opener) == ")]}".index(ch), (
                f"{opener!r} at line {_line(code, at)} closed by {ch!r} at line {_line(code, i)}")
    assert not stack, f"{stack[-1][0]!r} at line {_line(code, stack[-1][1])} never closed"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_parses_with_the_bicep_grammar(path: Path) -> None:
    # The tree-sitter Bicep grammar: a syntax check without the (.NET) Bicep compiler, which
    # cannot be installed from the package registries this project may use.
    from tree_sitter import Language, Parser
    from tree_sitter_bicep import language
    tree = Parser(Language(language())).parse(path.read_bytes())
    bad = _first_error(tree.root_node)
    assert bad is None, (f"{path.relative_to(REPO)}:{bad.start_point[0] + 1}:"
                         f"{bad.start_point[1] + 1}: syntax error near "
                         f"{bad.text.decode(errors='replace')[:60]!r}")


def _first_error(node: Any) -> Any:
    if node.type == "ERROR" or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = _first_error(child)
        if found is not None:
            return found
    return node


def test_module_paths_exist_and_receive_every_required_parameter() -> None:
    uses = module_uses(MAIN)
    assert uses, "main.bicep instantiates no module"
    for symbol, module, passed in uses:
        assert module.is_file(), f"module {symbol}: {module} does not exist"
        declared = declared_params(module)
        missing = {p for p, has_default in declared.items() if not has_default} - passed
        unknown = passed - declared.keys()
        assert not missing, f"module {symbol} does not pass {sorted(missing)}"
        assert not unknown, f"module {symbol} passes undeclared {sorted(unknown)}"


def test_bicepparam_file_matches_main() -> None:
    text = PARAMS.read_text()
    assert re.search(r"^using\s+'main\.bicep'", text, re.MULTILINE)
    given = set(re.findall(r"^param\s+(\w+)\s*=", text, re.MULTILINE))
    declared = declared_params(MAIN)
    unknown = given - declared.keys()
    assert not unknown, f"not parameters of main.bicep: {sorted(unknown)}"
    required = {p for p, has_default in declared.items() if not has_default}
    assert required <= given, f"main.bicepparam leaves out {sorted(required - given)}"


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_every_param_and_output_is_described(path: Path) -> None:
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        if re.match(r"(param|output)\s", line):
            decorators = []
            for before in reversed(lines[:n]):
                if not before.strip():
                    break
                decorators.append(before)
            assert any("@description(" in d for d in decorators), f"{path.name}:{n + 1}: {line}"


def test_app_connections_and_settings_are_configured() -> None:
    base = setting_names("baseSettings") | shared_app_settings()
    variants = {v: setting_names(v) for v in ("consumptionSettings", "elasticPremiumSettings")}
    # Host storage on every plan, the jobs library's default connections, every binding's.
    from shared import servicebus, storage
    connections = {"AzureWebJobsStorage", storage.DEFAULT_SETTING, servicebus.DEFAULT_SETTING}
    connections |= app_keyword_strings("connection")
    for connection in sorted(connections):
        for variant, names in variants.items():
            assert configured(connection, base | names), (
                f"connection {connection!r} has no setting in functionapp.bicep ({variant})")
    # %Setting% references in binding arguments (queue names, schedules, paths).
    referenced = {m for source in APP_SOURCES
                  for m in re.findall(r"%(\w+)%", source.read_text())}
    for setting in sorted(referenced):
        for variant, names in variants.items():
            assert setting in base | names, f"%{setting}% is not an app setting ({variant})"


def test_extra_settings_do_not_repeat_module_settings() -> None:
    module = setting_names("baseSettings") | setting_names("consumptionSettings") \
        | setting_names("elasticPremiumSettings")
    assert not shared_app_settings() & module


def test_storage_entities_match_the_jobs_library_defaults() -> None:
    from shared import checkpoints, locks, priority
    from shared.idempotency import ledger
    from shared.ordering import sequencer
    from shared.results import events
    from shared.status import store

    text = MAIN.read_text()
    base = re.search(r"^var\s+jobsQueueBaseName\s*=\s*'([^']+)'", text, re.MULTILINE)
    assert base and base.group(1) == priority.PriorityQueues().base

    def names(var: str) -> set[str]:
        body = block_after(text, rf"^var\s+{var}\s*=\s*\[")
        return {q.replace("${jobsQueueBaseName}", base.group(1)) for q in quoted(body)}

    queues = priority.PriorityQueues()
    assert names("storageQueueNames") == {queues.name(p) for p in priority.Priority} | {
        events.DEFAULT_EVENTS}
    assert names("blobContainerNames") == {locks.DEFAULT_CONTAINER, checkpoints.DEFAULT_CONTAINER}
    assert names("tableNames") == {store.DEFAULT_TABLE, ledger.DEFAULT_TABLE,
                                   checkpoints.DEFAULT_TABLE, sequencer.DEFAULT_TABLE}
    topics = block_after((INFRA / "modules" / "servicebus.bicep").read_text(),
                         r"^param\s+topics\s+\w+\[\]\s*=\s*\[")
    assert f"name: '{events.DEFAULT_EVENTS}'" in topics


def test_disabled_functions_exist_and_run_somewhere() -> None:
    functions = {name for name, _ in app_functions()}
    main, params = MAIN.read_text(), PARAMS.read_text()
    disabled = {}
    for app in ("api", "jobs"):
        names = set(quoted(block_after(main, rf"^param\s+{app}DisabledFunctions\s+array\s*=\s*\[")))
        names |= set(quoted(block_after(params, rf"^param\s+{app}DisabledFunctions\s*=\s*\[")))
        assert names <= functions, f"{app}: no such functions {sorted(names - functions)}"
        disabled[app] = names
    assert not disabled["api"] & disabled["jobs"], "disabled in both apps: runs nowhere"


def test_health_check_path_is_an_anonymous_route_of_the_app() -> None:
    path = re.search(r"^var\s+healthCheckPath\s*=\s*'([^']*)'", MAIN.read_text(), re.MULTILINE)
    assert path
    prefix = json.loads((REPO / "host.json").read_text()).get("extensions", {}).get(
        "http", {}).get("routePrefix", "api")
    routes = {}
    for name, node in app_functions():
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) \
                    and deco.func.attr == "route":
                kw = {k.arg: k.value for k in deco.keywords}
                route = ast.literal_eval(kw["route"]) if "route" in kw else name
                routes[f"/{prefix}/{route}".replace("//", "/")] = (name, kw.get("auth_level"))
    assert path.group(1) in routes, f"{path.group(1)} is none of the app's routes {sorted(routes)}"
    name, auth = routes[path.group(1)]
    # The platform's health probe carries no function key.
    assert isinstance(auth, ast.Attribute) and auth.attr == "ANONYMOUS", f"{name} needs a key"
