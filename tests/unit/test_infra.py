"""Static checks of the Bicep templates in infra/ (no Azure, no Bicep compiler needed).

They read the templates with the tree-sitter Bicep grammar (tests/infra/bicep.py) and hold
them to what the code and host.json say, which only a deployment would otherwise show:

- syntax, module wiring, parameter files, descriptions;
- no keys: no account key, SAS or instrumentation key is used or allowed anywhere;
- plans: the API on Flex Consumption (none of its deprecated settings), the jobs app on a
  Dedicated plan; no Linux Consumption;
- least privilege: which identity gets which role, at which scope;
- names: every resource name is valid for awkward prefixes (names.bicep evaluated here);
- host.json and the Service Bus entities agree (timeouts, lock renewal, delivery counts);
- sessions: each entity's requiresSession matches how the library sends and receives;
- monitoring: diagnostic settings on every resource type that supports them, the alerts,
  the autoscale rules; the private-networking option; azd;
- app settings, entity names and function names line up with the app and the jobs library.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.infra import bicep, need
from tests.infra.bicep import INFRA, REPO

MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
PARAM_FILES = sorted(INFRA.rglob("*.bicepparam"))
APP_SOURCES = [REPO / "function_app.py", *sorted((REPO / "functions").rglob("*.py"))]
HOST_JSON = json.loads((REPO / "host.json").read_text())

# Decorators of azure.functions.FunctionApp / Blueprint that make a Python function a Function.
FUNCTION_DECORATORS = {
    "route",
    "function_name",
    "queue_trigger",
    "blob_trigger",
    "timer_trigger",
    "schedule",
    "service_bus_queue_trigger",
    "service_bus_topic_trigger",
    "event_grid_trigger",
    "event_hub_message_trigger",
    "cosmos_db_trigger",
    "generic_trigger",
}


@pytest.fixture(autouse=True)
def _grammar() -> None:
    try:
        import tree_sitter  # noqa: F401
        import tree_sitter_bicep  # noqa: F401
    except ImportError as exc:
        from tests.conftest import unavailable

        unavailable(f"tree-sitter-bicep is not installed ({exc}): pip install -e '.[dev]'")


def _rel(path: Path) -> str:
    return path.relative_to(INFRA).as_posix()


def code_text(path: Path) -> str:
    """The file without its // comments (strings kept)."""
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", path.read_text())


def module_param_value(symbol: str, name: str, path: Path = MAIN) -> Any:
    """A module parameter's value in main.bicep: a literal, or a literal variable by name."""
    node = bicep.module_params(path, symbol)[name]
    return bicep.literal(node, bicep.literal_vars(path))


def iso_duration(value: str) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value)
    assert m and value not in ("P", "PT"), f"not an ISO 8601 duration: {value!r}"
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def timespan(value: str) -> timedelta:
    """A host.json TimeSpan, [d.]hh:mm:ss."""
    m = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+)", value)
    assert m, f"not a TimeSpan: {value!r}"
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


# --- syntax and wiring --------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_parses_with_the_bicep_grammar(path: Path) -> None:
    # The tree-sitter Bicep grammar: a syntax check without the (.NET) Bicep compiler, which
    # cannot be installed from the package registries this project may use.
    bad = bicep.first_error(bicep.tree(path).root_node)
    assert bad is None, (
        f"{path.relative_to(REPO)}:{bad.start_point[0] + 1}:{bad.start_point[1] + 1}: "
        f"syntax error near {bicep.text(bad)[:60]!r}"
    )


def test_module_paths_exist_and_receive_every_required_parameter() -> None:
    for path in BICEP_FILES:
        for symbol, module in bicep.declared(path, "module").items():
            target = path.parent / bicep.literal(module.node.children[2])
            assert target.is_file(), f"{path.name}: module {symbol}: {target} does not exist"
            params = bicep.declared(target, "param")
            passed = set(bicep.module_params(path, symbol))
            required = {n for n, d in params.items() if d.value is None}
            assert not required - passed, f"{symbol} does not pass {sorted(required - passed)}"
            assert not passed - params.keys(), (
                f"{symbol} passes undeclared {passed - params.keys()}"
            )


@pytest.mark.parametrize("path", PARAM_FILES, ids=_rel)
def test_parameter_files_match_main(path: Path) -> None:
    assert bicep.using_target(path) == "main.bicep"
    given = bicep.bicepparam_values(path)
    declared = bicep.declared(MAIN, "param")
    assert not given.keys() - declared.keys(), f"not parameters of main.bicep: {given.keys()}"
    required = {n for n, d in declared.items() if d.value is None}
    assert required <= given.keys(), f"{path.name} leaves out {sorted(required - given.keys())}"


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_every_param_and_output_is_described(path: Path) -> None:
    for decl in bicep.declarations(path):
        if decl.kind in ("param", "output"):
            assert any("@description(" in d for d in decl.decorators), f"{path.name}: {decl.name}"


# --- 2. no keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_no_key_is_read_or_written(path: Path) -> None:
    code = code_text(path)
    for forbidden in (
        "listKeys(",
        "listConnectionStrings(",
        "AccountKey=",
        "SharedAccessKey",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "InstrumentationKey=",
    ):
        assert forbidden not in code, f"{path.name} uses {forbidden}"


def test_every_service_refuses_keys() -> None:
    def prop(path: Path, type_prefix: str, *keys: str) -> Any:
        (body,) = [b for _, t, b in bicep.resources(path) if t.startswith(type_prefix + "@")]
        node = body
        for key in keys:
            node = bicep.property_node(node, key)
        return bicep.literal(node)

    storage = MODULES / "storage.bicep"
    assert (
        prop(storage, "Microsoft.Storage/storageAccounts", "properties", "allowSharedKeyAccess")
        is False
    )
    assert (
        prop(storage, "Microsoft.Storage/storageAccounts", "properties", "allowBlobPublicAccess")
        is False
    )
    assert (
        prop(
            MODULES / "servicebus.bicep",
            "Microsoft.ServiceBus/namespaces",
            "properties",
            "disableLocalAuth",
        )
        is True
    )
    assert (
        prop(
            MODULES / "monitoring.bicep",
            "Microsoft.Insights/components",
            "properties",
            "DisableLocalAuth",
        )
        is True
    )


@pytest.mark.parametrize("module", ["apiapp.bicep", "jobsapp.bicep"])
def test_apps_use_identities_for_storage_deployment_and_telemetry(module: str) -> None:
    settings = bicep.var_value(MODULES / module, "planSettings")
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in shared_app_settings() | settings.keys()
    for app in ("apiRoles", "jobsRoles"):
        assert "appInsightsName" in bicep.module_params(MAIN, app), "Monitoring Metrics Publisher"


# --- 1. plans ---------------------------------------------------------------------------------

# Flex Consumption deprecates these app settings and site properties.
FLEX_DEPRECATED = {
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "linuxFxVersion",
    "alwaysOn",
    "ftpsState",
    "use32BitWorkerProcess",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "minimumElasticInstanceCount",
    "containerSize",
    "isXenon",
}


def test_api_app_runs_on_flex_consumption_without_deprecated_settings() -> None:
    path = MODULES / "apiapp.bicep"
    plan = next(b for _, t, b in bicep.resources(path) if t.startswith("Microsoft.Web/serverfarms"))
    assert bicep.literal(bicep.property_node(plan, "sku")) == {
        "name": "FC1",
        "tier": "FlexConsumption",
    }
    code = code_text(path)
    used = {name for name in FLEX_DEPRECATED if re.search(rf"\b{name}\b", code)}
    assert not used, f"deprecated on Flex Consumption: {sorted(used)}"
    assert "type: 'SystemAssignedIdentity'" in code, "deployment storage by identity"
    assert "runtime: {\n        name: 'python'" in code


def test_jobs_app_runs_on_a_dedicated_plan() -> None:
    path = MODULES / "jobsapp.bicep"
    skus = allowed(path, "sku")
    assert skus and all(re.fullmatch(r"S[1-3]|P[0-3]v3", s) for s in skus), skus
    code = code_text(path)
    assert "alwaysOn: true" in code, "non-HTTP triggers need Always On on a Dedicated plan"
    assert allowed(MAIN, "jobsPlanSku") == skus


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_no_consumption_or_elastic_premium_plan(path: Path) -> None:
    code = code_text(path)
    for sku in ("'Y1'", "'Dynamic'", "'ElasticPremium'", "'EP1'"):
        assert sku not in code, f"{path.name}: {sku}"


def allowed(path: Path, param: str) -> list[Any]:
    """The @allowed([...]) values of a parameter."""
    decl = bicep.declared(path, "param")[param]
    for node in (n for d in decl.decorator_nodes for n in bicep.walk(d)):
        if node.type == "call_expression" and bicep.text(node.children[0]) == "allowed":
            (array,) = [c for c in node.children[1].children if c.type == "array"]
            return list(bicep.literal(array))
    return []


# --- 3. least privilege -----------------------------------------------------------------------


ROLE_KEYS = (
    "storageAccountRoles",
    "storageQueueRoles",
    "vaultAccountRoles",
    "vaultQueueRoles",
    "serviceBusQueueRoles",
    "serviceBusTopicRoles",
    "keyVaultRoles",
)


def role_assignments(symbol: str) -> dict[str, list[Any]]:
    """Each role list a roles.bicep instance in main.bicep receives, as values."""
    params = bicep.module_params(MAIN, symbol)
    env = bicep.literal_vars(MAIN)
    return {key: bicep.literal(params[key], env) if key in params else [] for key in ROLE_KEYS}


def pairs(roles: list[dict[str, str]], key: str = "queue") -> set[tuple[str, str]]:
    return {(r[key], r["role"]) for r in roles}


def role_modules() -> list[str]:
    return [
        symbol
        for symbol, module in bicep.declared(MAIN, "module").items()
        if bicep.literal(module.node.children[2]).endswith("roles.bicep")
    ]


ORDER_STEPS = {"order-reserve", "order-charge", "order-ship", "order-notify"}
RECEIVER, SENDER = "Azure Service Bus Data Receiver", "Azure Service Bus Data Sender"


def test_service_bus_roles_are_entity_scoped_and_minimal() -> None:
    api = role_assignments("apiRoles")
    jobs = role_assignments("jobsRoles")
    # The API app records jobs and enqueues Storage tickets: nothing on Service Bus.
    assert api["serviceBusQueueRoles"] == api["serviceBusTopicRoles"] == []
    # Each order step receives its messages and sends the next (or, compensating, the
    # previous) step's; job requests are only received, replies only sent.
    assert pairs(jobs["serviceBusQueueRoles"]) == {
        *((q, RECEIVER) for q in ORDER_STEPS),
        *((q, SENDER) for q in ORDER_STEPS),
        ("job-requests", RECEIVER),
        ("replies", SENDER),
        ("orders", RECEIVER),
    }
    assert jobs["serviceBusTopicRoles"] == [{"topic": "job-events", "role": SENDER}]
    # Service Bus Data Owner only for KEDA, on the queues it scales on.
    for symbol in role_modules():
        roles = role_assignments(symbol)
        owners = {
            r["queue"]
            for r in roles["serviceBusQueueRoles"]
            if r["role"] == "Azure Service Bus Data Owner"
        }
        assert owners == (ORDER_STEPS if symbol == "scalerRoles" else set()), symbol
        assert all("Owner" not in r["role"] for r in roles["serviceBusTopicRoles"]), symbol
    module = code_text(MODULES / "roles.bicep")
    assert "scope: serviceBusNamespace\n" not in module, "no namespace-wide Service Bus role"


def test_storage_roles_follow_what_each_app_touches() -> None:
    api = role_assignments("apiRoles")
    jobs = role_assignments("jobsRoles")
    assert set(api["storageAccountRoles"]) == {
        "Storage Blob Data Owner",
        "Storage Table Data Contributor",
    }
    # Tickets, and a cancelled job's notice; Contributor because ensure_queue creates.
    assert pairs(api["storageQueueRoles"]) == {
        ("jobs-high", "Storage Queue Data Contributor"),
        ("jobs-normal", "Storage Queue Data Contributor"),
        ("job-notifications", "Storage Queue Data Contributor"),
    }
    assert set(jobs["storageAccountRoles"]) == {
        "Storage Blob Data Owner",
        "Storage Queue Data Contributor",
        "Storage Table Data Contributor",
    }
    assert jobs["storageQueueRoles"] == []


def test_the_api_app_can_only_add_to_the_vault() -> None:
    # The Gatekeeper: the API app hands personal data to the intake queue and can read
    # nothing back, neither from the queue nor from the Vault table.
    api = role_assignments("apiRoles")
    assert api["vaultAccountRoles"] == []
    assert api["vaultQueueRoles"] == [
        {"queue": "sensitive-intake", "role": "Storage Queue Data Message Sender"}
    ]
    assert api["keyVaultRoles"] == []
    # The jobs app: the queue trigger's roles, sending (a message not due yet goes back; the
    # host moves a failing one to the poison queue, which exists: nobody may create queues
    # there), and the Vault table.
    jobs = role_assignments("jobsRoles")
    assert jobs["vaultAccountRoles"] == ["Storage Table Data Contributor"]
    assert pairs(jobs["vaultQueueRoles"]) == {
        ("sensitive-intake", "Storage Queue Data Reader"),
        ("sensitive-intake", "Storage Queue Data Message Processor"),
        ("sensitive-intake", "Storage Queue Data Message Sender"),
        ("sensitive-intake-poison", "Storage Queue Data Message Sender"),
    }
    env = bicep.literal_vars(MAIN)
    assert {r["queue"] for r in jobs["vaultQueueRoles"]} <= set(env["vaultQueueNames"])
    # No identity holds a role that creates queues or reads every message on the vault.
    for symbol in role_modules():
        roles = role_assignments(symbol)
        vault = roles["vaultAccountRoles"] + [r["role"] for r in roles["vaultQueueRoles"]]
        assert not {r for r in vault if "Contributor" in r and "Queue" in r}, symbol
        assert "Storage Blob Data Owner" not in vault, symbol


def test_key_vault_roles_follow_who_reads_the_secrets() -> None:
    # Only the jobs app reads SENSITIVE_KEY and CALLBACK_SECRET; a developer sets them.
    expected = {
        "jobsRoles": ["Key Vault Secrets User"],
        "workloadRoles": ["Key Vault Secrets User"],
        "developerRoles": ["Key Vault Secrets Officer"],
    }
    for symbol in role_modules():
        assert role_assignments(symbol)["keyVaultRoles"] == expected.get(symbol, []), symbol


def test_every_role_name_used_has_a_built_in_id() -> None:
    ids = bicep.var_value(MODULES / "roles.bicep", "roleIds")
    for role_id in ids.values():
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", role_id
        )
    used = set(
        re.findall(
            r"'((?:Storage|Azure Service Bus|Key Vault|Monitoring) [A-Za-z ]+)'", code_text(MAIN)
        )
    )
    assert used <= ids.keys(), sorted(used - ids.keys())
    for symbol in role_modules():
        roles = role_assignments(symbol)
        names = [r if isinstance(r, str) else r["role"] for key in ROLE_KEYS for r in roles[key]]
        assert set(names) <= ids.keys(), (symbol, sorted(set(names) - ids.keys()))


# --- 4. names -------------------------------------------------------------------------------------

# What each name must look like (Azure's naming rules for the resource type).
NAME_RULES: dict[str, tuple[str, int, int]] = {
    "workspace": (r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", 4, 63),
    "appInsights": (r"[^%&\\?/]+", 1, 260),
    "storage": (r"[a-z0-9]+", 3, 24),
    "vaultStorage": (r"[a-z0-9]+", 3, 24),
    "keyVault": (r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]", 3, 24),
    "serviceBus": (r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]", 6, 50),
    "apiApp": (r"[a-z0-9][a-z0-9-]*[a-z0-9]", 2, 60),
    "jobsApp": (r"[a-z0-9][a-z0-9-]*[a-z0-9]", 2, 60),
    "apiPlan": (r"[A-Za-z0-9][A-Za-z0-9-]*", 1, 60),
    "jobsPlan": (r"[A-Za-z0-9][A-Za-z0-9-]*", 1, 60),
    "vnet": (r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9_]", 2, 64),
    "alerts": (r"[A-Za-z0-9][A-Za-z0-9-]*", 1, 200),
    "workloadIdentity": (r"[A-Za-z0-9][A-Za-z0-9_-]*", 3, 128),
    "scalerIdentity": (r"[A-Za-z0-9][A-Za-z0-9_-]*", 3, 128),
}
AWKWARD_PREFIXES = [
    "a",
    "1abc",
    "My-App_Ünï",
    "---",
    "x" * 24,
    "prod.eu west 2",
    "日本語",
    "Z9",
    "vaultvaultvault",  # the vault account's name still differs from the shared one's
]
# uniqueString(): 13 lowercase letters and digits; one of each kind of first character.
SUFFIXES = ["abcdefghij123", "0123456789abc"]


class _Eval:
    """Evaluates the subset of Bicep names.bicep uses, over tree-sitter nodes."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.env = env

    def __call__(self, node: Any) -> Any:
        t = node.type
        if t == "identifier":
            return self.env[bicep.text(node)]
        if t in ("string", "number", "array", "object") and not any(
            c.type == "interpolation" for c in node.children
        ):
            if t == "array":
                return [self(c) for c in node.children if c.type not in ("[", "]", ",")]
            return bicep.literal(node)
        if t == "string":
            return "".join(
                self(c.children[1]) if c.type == "interpolation" else bicep.text(c)
                for c in node.children
                if c.type != "'"
            )
        if t == "unary_expression":  # !empty(x)
            return not self(node.children[1])
        if t == "parenthesized_expression":
            return self(node.children[1])
        if t == "call_expression":
            return self.call(
                bicep.text(node.children[0]),
                [c for c in node.children[1].children if c.type not in "(),"],
            )
        raise AssertionError(f"names.bicep: cannot evaluate {t}: {bicep.text(node)[:60]}")

    def lam(self, node: Any) -> Callable[[Any], Any]:
        assert node.type == "lambda_expression", bicep.text(node)
        name = bicep.text(node.children[0])
        return lambda value: _Eval({**self.env, name: value})(node.children[-1])

    def call(self, fn: str, args: list[Any]) -> Any:
        if fn in ("map", "filter"):
            items, f = self(args[0]), self.lam(args[1])
            return [f(x) for x in items] if fn == "map" else [x for x in items if f(x)]
        values = [self(a) for a in args]
        funcs: dict[str, Callable[..., Any]] = {
            "toLower": str.lower,
            "length": len,
            "empty": lambda x: not x,
            "take": lambda x, n: x[:n],
            "join": lambda xs, sep: sep.join(xs),
            "range": lambda start, count: list(range(start, start + count)),
            "substring": lambda s, i, n: s[i : i + n],
            "contains": lambda s, x: x in s,
        }
        return funcs[fn](*values)


def evaluate_names(prefix: str, suffix: str) -> dict[str, str]:
    path = MODULES / "names.bicep"
    env: dict[str, Any] = {"namePrefix": prefix}
    for decl in bicep.declarations(path):
        if decl.kind == "var":
            node = decl.value
            if bicep.text(node).startswith("uniqueString("):
                env[decl.name] = suffix
            else:
                env[decl.name] = (
                    _Eval(env)(node)
                    if node.type != "object"
                    else {key: _Eval(env)(value) for key, value in bicep.properties(node).items()}
                )
    return dict(env["names"])


@pytest.mark.parametrize("prefix", AWKWARD_PREFIXES)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_name_is_valid_for_any_accepted_prefix(prefix: str, suffix: str) -> None:
    names = evaluate_names(prefix, suffix)
    assert names.keys() == NAME_RULES.keys()
    for role, name in names.items():
        pattern, low, high = NAME_RULES[role]
        assert re.fullmatch(pattern, name) and low <= len(name) <= high, (role, name)
        assert "--" not in name, (role, name)
    assert not names["serviceBus"].endswith(("-sb", "-mgmt")), names["serviceBus"]
    # Host IDs (first 32 characters, lower case) of two apps sharing storage must differ.
    assert names["apiApp"][:32] != names["jobsApp"][:32]
    assert names["storage"] != names["vaultStorage"]


def test_name_prefix_bounds_match_names_module() -> None:
    main, names = (
        bicep.declared(p, "param")["namePrefix"].decorators for p in (MAIN, MODULES / "names.bicep")
    )
    bounds = [d for d in main if d.startswith(("@minLength", "@maxLength"))]
    assert bounds == ["@minLength(1)", "@maxLength(24)"]
    assert bounds == [d for d in names if d.startswith(("@minLength", "@maxLength"))]


# --- 5. host.json vs the entities and the plans -------------------------------------------------


def deployed(var: str) -> list[dict[str, Any]]:
    """Service Bus entities of main.bicep variable `var` as deployed: module defaults + main's
    values."""
    max_delivery = HOST_JSON["extensions"]["queues"]["maxDequeueCount"]
    defaults = bicep.var_value(
        MODULES / "servicebus.bicep", "entityDefaults", {"maxDeliveryCount": max_delivery}
    )
    return [{**defaults, **entity} for entity in bicep.literal_vars(MAIN)[var]]


def service_bus_entities() -> list[dict[str, Any]]:
    """Every Service Bus queue and subscription as deployed."""
    return deployed("serviceBusQueues") + deployed("serviceBusSubscriptions")


def test_service_bus_entities_match_the_local_emulator_config() -> None:
    # servicebus.config.json is what `make run` and tests/app give the emulator: Azure gets
    # the same queues, with the same sessions and every property the file sets.
    config = json.loads((REPO / "servicebus.config.json").read_text())
    (namespace,) = config["UserConfig"]["Namespaces"]
    queues = {q["name"]: q for q in deployed("serviceBusQueues")}
    assert {q["Name"] for q in namespace["Queues"]} == queues.keys()
    for local in namespace["Queues"]:
        name, props = local["Name"], local["Properties"]
        assert queues[name]["requiresSession"] is props.get("RequiresSession", False), name
        for key, value in props.items():
            bicep_key = key[0].lower() + key[1:]  # MaxDeliveryCount -> maxDeliveryCount
            assert queues[name][bicep_key] == value, (name, key)
    env = bicep.literal_vars(MAIN)
    assert {t["Name"] for t in namespace["Topics"]} == {t["name"] for t in env["serviceBusTopics"]}
    local_subscriptions = {
        (t["Name"], s["Name"]) for t in namespace["Topics"] for s in t["Subscriptions"]
    }
    assert local_subscriptions == {(s["topic"], s["name"]) for s in env["serviceBusSubscriptions"]}


def test_service_bus_delivery_count_comes_from_host_json() -> None:
    node = bicep.module_params(MAIN, "serviceBus")["maxDeliveryCount"]
    assert bicep.text(node) == "hostJson.extensions.queues.maxDequeueCount"
    assert "loadJsonContent('../host.json')" in code_text(MAIN)


def test_host_json_lock_renewal_timeout_and_deliveries_agree() -> None:
    timeout = timespan(HOST_JSON["functionTimeout"])
    service_bus = HOST_JSON["extensions"]["serviceBus"]
    renewal = timespan(service_bus["maxAutoLockRenewalDuration"])
    dequeue = HOST_JSON["extensions"]["queues"]["maxDequeueCount"]
    # A Service Bus message keeps its lock for as long as the function may run: otherwise it
    # is delivered again while it still runs.
    assert renewal >= timeout, "maxAutoLockRenewalDuration shorter than functionTimeout"
    # Guaranteed execution time on the Dedicated (jobs) and Flex Consumption (API) plans.
    assert timedelta(minutes=5) < timeout <= timedelta(hours=1)
    for entity in service_bus_entities():
        name = entity["name"]
        lock = iso_duration(entity["lockDuration"])
        assert timedelta(seconds=5) <= lock <= timedelta(minutes=5), name
        assert lock < renewal, f"{name}: the trigger must renew the lock"
        assert entity["maxDeliveryCount"] == dequeue, f"{name}: tries differ from Storage queues"
        ttl = iso_duration(entity["defaultMessageTimeToLive"])
        assert ttl > dequeue * timeout, f"{name}: expires before its retries can finish"
        window = iso_duration(entity["duplicateDetectionHistoryTimeWindow"])
        assert timedelta(seconds=20) <= window <= timedelta(days=7), name


def test_jobs_plan_allows_the_function_timeout() -> None:
    # Dedicated plans have no execution cap (Consumption's is 10 minutes): the jobs plan may
    # only be a Dedicated SKU, and the API plan Flex Consumption (no cap either).
    assert all(re.fullmatch(r"S[1-3]|P[0-3]v3", s) for s in allowed(MAIN, "jobsPlanSku"))
    assert timespan(HOST_JSON["functionTimeout"]) > timedelta(minutes=10)
    assert HOST_JSON["extensions"]["queues"]["maxDequeueCount"] >= 1
    assert timespan(HOST_JSON["extensions"]["queues"]["visibilityTimeout"]) < timedelta(minutes=5)


# --- 6. sessions vs the library ----------------------------------------------------------------


class _Sender:
    def __init__(self, log: list[tuple[str, Any]], entity: str) -> None:
        self.log, self.entity = log, entity

    async def __aenter__(self) -> _Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send_messages(self, message: Any) -> None:
        self.log.append((self.entity, message))


class _Namespace:
    """Records what the library sends, per entity."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def client(self) -> Any:
        return SimpleNamespace(
            get_queue_sender=lambda name: _Sender(self.sent, name),
            get_topic_sender=lambda name: _Sender(self.sent, name),
        )


def test_entity_names_are_the_librarys_defaults() -> None:
    from functions import orders, results
    from shared.ordering.servicebus import DEFAULT_QUEUE
    from shared.results.events import DEFAULT_EVENTS
    from shared.results.reply import DEFAULT_REPLY_QUEUE

    env = bicep.literal_vars(MAIN)
    assert env["orderingQueueName"] == DEFAULT_QUEUE
    assert env["replyQueueName"] == DEFAULT_REPLY_QUEUE
    assert env["eventsTopicName"] == DEFAULT_EVENTS
    assert env["requestQueueName"] == results.REQUESTS
    assert env["orderStepQueueNames"] == [orders.QUEUES[step] for step in orders.STEPS]
    assert {q["name"] for q in env["serviceBusQueues"]} == {
        DEFAULT_QUEUE,
        DEFAULT_REPLY_QUEUE,
        results.REQUESTS,
        *orders.QUEUES.values(),
    }
    assert [t["name"] for t in env["serviceBusTopics"]] == [DEFAULT_EVENTS]


def test_session_entities_match_how_the_code_sends_and_receives() -> None:
    from shared.errors import InvalidArgument
    from shared.ordering import Sequencer, ServiceBusOrdering
    from shared.ordering.servicebus import DEFAULT_QUEUE
    from shared.results import ReplyAddress, ServiceBusEventPublisher, ServiceBusReplySender
    from shared.results.reply import DEFAULT_REPLY_QUEUE
    from shared.status.model import JobState, JobStatus

    sessions = {e["name"]: e["requiresSession"] for e in service_bus_entities()}
    namespace = _Namespace()
    job = JobStatus("job-1", "resize", JobState.SUCCEEDED, reply_to=DEFAULT_REPLY_QUEUE)

    async def send_all() -> None:
        sender = ServiceBusReplySender(namespace)  # type: ignore[arg-type]
        await sender.send(job)  # no correlation id, no session: from the record
        await sender.send(job, ReplyAddress(DEFAULT_REPLY_QUEUE, "req-1"))
        await sender.send(job, ReplyAddress(DEFAULT_REPLY_QUEUE, "req-2", "requester-7"))
        await ServiceBusEventPublisher(namespace).publish(job)  # type: ignore[arg-type]

    asyncio.run(send_all())
    for entity, message in namespace.sent:
        if sessions.get(entity):
            assert message.session_id, f"{entity} requires sessions; a message has no SessionId"
    assert {e for e, _ in namespace.sent} == {DEFAULT_REPLY_QUEUE, "job-events"}
    assert sessions[DEFAULT_REPLY_QUEUE] is True

    # The ordering helper receives with a plain receiver and refuses a session one, so its
    # queue must not require sessions.
    ordering = ServiceBusOrdering(Sequencer(SimpleNamespace()))  # type: ignore[arg-type]
    message = SimpleNamespace(application_properties={}, message_id="m-1")
    with pytest.raises(InvalidArgument, match="session"):
        asyncio.run(ordering.handle(SimpleNamespace(session=object()), message, None))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="orderingKey"):
        asyncio.run(ordering.handle(SimpleNamespace(session=None), message, None))  # type: ignore[arg-type]
    assert sessions[DEFAULT_QUEUE] is False


# --- 7. monitoring --------------------------------------------------------------------------------

# Resource types that send logs or metrics through diagnostic settings, and so must have one.
DIAGNOSED = {
    "Microsoft.KeyVault/vaults",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/queueServices",
    "Microsoft.Storage/storageAccounts/tableServices",
    "Microsoft.ServiceBus/namespaces",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Web/sites",
    "Microsoft.Web/serverfarms",
    "Microsoft.Insights/autoscalesettings",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/privateEndpoints",
}
# Not diagnosed, and why.
NOT_DIAGNOSED = {
    # Flex Consumption apps and plans do not support diagnostic settings: the API app's logs
    # and metrics reach the workspace through Application Insights.
    ("apiapp.bicep", "Microsoft.Web/sites"): "Flex Consumption",
    ("apiapp.bicep", "Microsoft.Web/serverfarms"): "Flex Consumption",
    # Workspace-based: its data already is in the workspace; exporting it again doubles cost.
    ("monitoring.bicep", "Microsoft.Insights/components"): "workspace-based",
}
# Types with no resource logs or metrics of their own (or covered by their parent's setting).
NO_DIAGNOSTICS = {
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.Insights/actionGroups",
    "Microsoft.Insights/metricAlerts",
    "Microsoft.Insights/scheduledQueryRules",
    "Microsoft.Insights/components",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.Storage/storageAccounts/queueServices/queues",
    "Microsoft.Storage/storageAccounts/tableServices/tables",
    "Microsoft.ServiceBus/namespaces/queues",
    "Microsoft.ServiceBus/namespaces/topics",
    "Microsoft.ServiceBus/namespaces/topics/subscriptions",
    "Microsoft.Network/privateDnsZones",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
}


@pytest.mark.parametrize("path", BICEP_FILES, ids=_rel)
def test_diagnostic_settings_on_every_resource_that_has_logs_or_metrics(path: Path) -> None:
    resources = bicep.resources(path)
    scopes = {
        re.sub(r"\[.*\]$", "", bicep.text(bicep.property_node(body, "scope")))
        for _, t, body in resources
        if t.startswith("Microsoft.Insights/diagnosticSettings@")
    }
    for symbol, type_version, _ in resources:
        rtype = type_version.split("@")[0]
        if bicep.declared(path, "resource")[symbol].node.text.find(b" existing") >= 0:
            continue
        reason = NOT_DIAGNOSED.get((path.name, rtype))
        if rtype in DIAGNOSED and reason is None:
            assert symbol in scopes, f"{path.name}: {symbol} ({rtype}) has no diagnostic setting"
        else:
            assert rtype in NO_DIAGNOSTICS or reason, f"{path.name}: decide diagnostics for {rtype}"
    for _, t, body in resources:
        if t.startswith("Microsoft.Insights/diagnosticSettings@"):
            props = bicep.properties(bicep.property_node(body, "properties"))
            assert bicep.text(props["workspaceId"]) in ("workspaceId", "workspace.id")


def test_alerts_cover_dead_letters_poison_backlog_and_failures() -> None:
    code = code_text(MODULES / "alerts.bicep")
    for signal in (
        "metricName: 'DeadletteredMessages'",
        "metricName: 'ActiveMessages'",
        "timeAggregation: 'Minimum'",
        "metricName: 'QueueMessageCount'",
        'Message has "poison"',
        "AppRequests | where Success == false",
    ):
        assert signal in code, signal
    assert "alerts" in bicep.declared(MAIN, "module")


def test_jobs_autoscale_follows_the_queues_and_cpu() -> None:
    code = code_text(MODULES / "jobsapp.bicep")
    for metric in ("'CpuPercentage'", "'ApproximateMessageCount'", "'MessageCount'"):
        assert f"metricName: {metric}" in code, metric
    env = bicep.literal_vars(MAIN)
    params = bicep.module_params(MAIN, "jobsApp")
    storage = bicep.literal(params["scaleQueues"], env)
    service_bus = bicep.literal(params["scaleServiceBusQueues"], env)
    assert {q["name"] for q in storage} == {"jobs-high", "jobs-normal", "batch-parts"}
    assert {q["name"] for q in service_bus} == {"order-reserve"}
    assert {q["name"] for q in storage} <= set(env["storageQueueNames"])
    assert {q["name"] for q in service_bus} <= {q["name"] for q in env["serviceBusQueues"]}
    # Azure autoscale takes at most 10 rules per profile: CPU out and in, each Storage queue
    # out and in, each Service Bus queue out.
    rules = bicep.text(bicep.declared(MODULES / "jobsapp.bicep", "resource")["autoscale"].value)
    assert "rules: concat(cpuRules, queueOutRules, queueInRules, serviceBusOutRules)" in rules
    cpu = bicep.declared(MODULES / "jobsapp.bicep", "var")["cpuRules"].value
    assert len([c for c in cpu.children if c.type == "object"]) == 2
    assert 2 + 2 * len(storage) + len(service_bus) <= 10


# --- 8. networking --------------------------------------------------------------------------------


def test_private_networking_closes_public_access_and_integrates_both_apps() -> None:
    code = code_text(MAIN)
    assert "var publicAccess = privateNetworking ? 'Disabled' : 'Enabled'" in code
    assert "var effectiveServiceBusSku = privateNetworking ? 'Premium' : serviceBusSku" in code
    for module in ("storage", "vaultStorage", "serviceBus", "keyVault"):
        value = bicep.text(bicep.module_params(MAIN, module)["publicNetworkAccess"])
        assert value == "publicAccess", module
    for module, output in (("apiApp", "apiSubnetId"), ("jobsApp", "jobsSubnetId")):
        value = bicep.text(bicep.module_params(MAIN, module)["subnetId"])
        assert value == f"privateNetworking ? network.outputs.{output} : ''", value
    network = code_text(MODULES / "network.bicep")
    params = bicep.module_params(MAIN, "network")
    targets = {
        name: bicep.text(params[name])
        for name in (
            "storageAccountId",
            "vaultStorageAccountId",
            "serviceBusNamespaceId",
            "keyVaultId",
        )
    }
    assert targets == {
        "storageAccountId": "storage.outputs.id",
        "vaultStorageAccountId": "vaultStorage.outputs.id",
        "serviceBusNamespaceId": "serviceBus.outputs.id",
        "keyVaultId": "keyVault.outputs.id",
    }
    endpoints = bicep.declared(MODULES / "network.bicep", "var")["endpoints"].value
    reached = {
        (bicep.text(props["target"]), bicep.literal(props["group"]))
        for props in (bicep.properties(c) for c in endpoints.children if c.type == "object")
    }
    assert reached == {
        ("storageAccountId", "blob"),
        ("storageAccountId", "queue"),
        ("storageAccountId", "table"),
        ("vaultStorageAccountId", "queue"),
        ("vaultStorageAccountId", "table"),
        ("serviceBusNamespaceId", "namespace"),
        ("keyVaultId", "vault"),
    }
    assert "serviceName: 'Microsoft.App/environments'" in network  # Flex Consumption
    assert "serviceName: 'Microsoft.Web/serverFarms'" in network  # Dedicated plan
    prod = bicep.bicepparam_values(INFRA / "main.prod.bicepparam")
    assert prod["privateNetworking"] is True and prod["zoneRedundant"] is True


# --- 9. azd ---------------------------------------------------------------------------------------


def test_azure_yaml_deploys_both_apps() -> None:
    yaml = need("yaml", "pyyaml")
    doc = yaml.safe_load((REPO / "azure.yaml").read_text())
    infra = doc["infra"]
    assert (REPO / infra["path"] / f"{infra['module']}.bicep").is_file()
    assert (REPO / infra["path"] / f"{infra['module']}.bicepparam").is_file()
    services = doc["services"]
    assert set(services) == {"api", "jobs"}
    for service in services.values():
        assert service == {"project": ".", "language": "python", "host": "function"}
    tags = {bicep.text(bicep.module_params(MAIN, m)["tags"]) for m in ("apiApp", "jobsApp")}
    for name in services:
        assert any(f"'azd-service-name': '{name}'" in t for t in tags), name


# --- the app and the jobs library --------------------------------------------------------------


def app_functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(function name, def) of every Function the app registers."""
    found = []
    for source in APP_SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name, is_function = node.name, False
            for deco in node.decorator_list:
                if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)):
                    continue
                if deco.func.attr in FUNCTION_DECORATORS:
                    is_function = True
                if deco.func.attr == "function_name":
                    args = [*deco.args, *(k.value for k in deco.keywords if k.arg == "name")]
                    name = ast.literal_eval(args[0])
            if is_function:
                found.append((name, node))
    return found


def app_keyword_strings(keyword: str) -> set[str]:
    """String values of `keyword=` in the app's binding decorators."""
    found = set()
    for source in APP_SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call):
                found |= {
                    k.value.value
                    for k in node.keywords
                    if k.arg == keyword
                    and isinstance(k.value, ast.Constant)
                    and isinstance(k.value.value, str)
                }
    return found


def app_settings(app: str) -> set[str]:
    """Names of the app settings main.bicep gives app `api` or `jobs` (planSettings aside)."""
    names = shared_app_settings()
    if app == "jobs":
        names |= set(bicep.properties(bicep.declared(MAIN, "var")["jobsAppSettings"].value))
    return names


def shared_app_settings() -> set[str]:
    """Names in main.bicep's sharedAppSettings (passed to both apps)."""
    return set(bicep.properties(bicep.declared(MAIN, "var")["sharedAppSettings"].value))


def configured(connection: str, names: set[str]) -> bool:
    """Whether `connection` resolves as the Functions host resolves a binding's connection:
    AzureWebJobs<name> then <name>, as a value or as a <name>__<key> identity section."""
    candidates = (
        [connection]
        if connection.startswith("AzureWebJobs")
        else [f"AzureWebJobs{connection}", connection]
    )
    return any(
        n.lower() == c.lower() or n.lower().startswith(c.lower() + "__")
        for c in candidates
        for n in names
    )


@pytest.mark.parametrize("app", ["api", "jobs"])
def test_app_connections_and_settings_are_configured(app: str) -> None:
    from shared import servicebus, storage

    module = MODULES / f"{app}app.bicep"
    names = app_settings(app) | set(bicep.var_value(module, "planSettings"))
    connections = {"AzureWebJobsStorage", storage.DEFAULT_SETTING, servicebus.DEFAULT_SETTING}
    for connection in sorted(connections | app_keyword_strings("connection")):
        assert configured(connection, names), f"{app}: connection {connection!r} has no setting"
    referenced = {m for source in APP_SOURCES for m in re.findall(r"%(\w+)%", source.read_text())}
    assert referenced <= names, f"{app}: %Setting% not set: {sorted(referenced - names)}"
    assert not app_settings(app) & set(bicep.var_value(module, "planSettings"))
    wiring = bicep.text(bicep.module_params(MAIN, f"{app}App")["appSettings"])
    expected = "sharedAppSettings" if app == "api" else "union(sharedAppSettings, jobsAppSettings)"
    assert wiring == expected


def test_the_vault_connection_is_one_the_host_and_the_library_read() -> None:
    # The host's queue trigger accepts <connection>__accountName only for AzureWebJobsStorage:
    # any other identity-based storage connection needs the service URI.
    from functions import sensitive
    from shared.storage import StorageAccount

    for app, services in (("api", {"queue"}), ("jobs", {"queue", "table"})):
        section = {n.split("__", 1)[1] for n in app_settings(app) if n.startswith("Sensitive")}
        assert {f"{s}ServiceUri" for s in services} | {"credential"} == section, app
        environ = {f"{sensitive.CONNECTION}__{key}": f"https://vault.{key}" for key in section}
        account = StorageAccount.from_settings(sensitive.CONNECTION, environ)
        assert "vault" in repr(account)
    vault = bicep.declared(MAIN, "var")
    for service in ("queue", "table"):
        uri = bicep.text(vault[f"vault{service.title()}ServiceUri"].value)
        expected = f"https://${{vaultStorage.outputs.name}}.{service}."
        assert uri.startswith("'" + expected), uri


def test_secrets_are_key_vault_references_for_the_jobs_app_only() -> None:
    jobs = bicep.properties(bicep.declared(MAIN, "var")["jobsAppSettings"].value)
    for setting, secret in (
        ("SENSITIVE_KEY", "sensitiveKeySecretName"),
        ("CALLBACK_SECRET", "callbackSecretName"),
    ):
        uri = "${keyVault.outputs.uri}secrets/${" + secret + "}"
        assert bicep.text(jobs[setting]) == f"'@Microsoft.KeyVault(SecretUri={uri})'", setting
        assert setting not in shared_app_settings(), f"the API app has no use for {setting}"
    # Every setting the app reads without a default is set in the jobs app (which runs all
    # the code that reads settings).
    read = settings_read_by_the_app()
    required = {name for name, has_default in read.items() if not has_default}
    assert required <= app_settings("jobs"), sorted(required - app_settings("jobs"))
    assert "JOBS_STUCK_AFTER_MINUTES" in read and "JOBS_STUCK_AFTER_MINUTES" in jobs
    # No secret value is in a template: no secret resource, no secure parameter.
    for path in BICEP_FILES:
        code = code_text(path)
        assert "Microsoft.KeyVault/vaults/secrets" not in code, path.name
        assert "@secure()" not in code, path.name
    (vault,) = [
        b
        for _, t, b in bicep.resources(MODULES / "keyvault.bicep")
        if t.startswith("Microsoft.Key")
    ]
    props = bicep.properties(bicep.property_node(vault, "properties"))
    assert "accessPolicies" not in props
    for flag in ("enableRbacAuthorization", "enableSoftDelete", "enablePurgeProtection"):
        assert bicep.literal(props[flag]) is True, flag  # RBAC only; a lost key stays recoverable


def settings_read_by_the_app() -> dict[str, bool]:
    """Setting name -> whether the code gives a default, for `setting("X"[, default])` and
    `os.environ.get("X"[, default])` calls in the app."""
    found: dict[str, bool] = {}
    for source in APP_SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = ast.unparse(node.func)
            first = node.args[0]
            if func in ("setting", "os.environ.get") and isinstance(first, ast.Constant):
                found[str(first.value)] = len(node.args) > 1 or bool(node.keywords)
    return found


def test_storage_entities_match_the_code() -> None:
    from functions import batch, reports, sensitive, services, shop, thumbnails, tickets
    from shared import checkpoints, locks, priority
    from shared.coordination import fanout
    from shared.idempotency import ledger
    from shared.ordering import sequencer
    from shared.results import events
    from shared.status import store

    env = bicep.literal_vars(MAIN)
    assert env["jobsQueueBaseName"] == priority.PriorityQueues().base == tickets.QUEUES.base
    assert set(env["storageQueueNames"]) == {
        tickets.QUEUES.high,
        tickets.QUEUES.normal,
        batch.PARTS_QUEUE,
        services.NOTIFY_QUEUE,
        events.DEFAULT_EVENTS,
    }
    batch_input = re.match(r"\^([a-z0-9-]+)/", batch.SCHEMA["properties"]["blob"]["pattern"])
    assert batch_input, "functions/batch.py no longer names the input container"
    assert set(env["blobContainerNames"]) == {
        locks.DEFAULT_CONTAINER,
        checkpoints.DEFAULT_CONTAINER,
        thumbnails.SOURCE,
        thumbnails.TARGET,
        batch_input.group(1),
        shop.SHIPMENTS,
        reports.CONTAINER,
    }
    assert set(env["tableNames"]) == {
        store.DEFAULT_TABLE,
        ledger.DEFAULT_TABLE,
        checkpoints.DEFAULT_TABLE,
        sequencer.DEFAULT_TABLE,
        fanout.DEFAULT_TABLE,
        shop.STOCK_TABLE,
        shop.PAYMENTS_TABLE,
        shop.NOTIFICATIONS_TABLE,
    }
    # The vault account: the intake queue and its poison queue (no one may create queues
    # there, so the host's move to the poison queue needs it to exist), and the Vault table.
    assert env["intakeQueueName"] == sensitive.INTAKE
    assert env["vaultQueueNames"] == [sensitive.INTAKE, f"{sensitive.INTAKE}-poison"]
    assert env["vaultTableNames"] == [sensitive.VAULT]


# --- the functions and the two apps ------------------------------------------------------------


@functools.cache
def loaded_app() -> Any:
    """The app as funchost loads it (the same indexing the real host's worker does)."""
    from funchost.config.host_config import HostConfig
    from funchost.core.loader import load_app

    app = load_app(HostConfig.load(REPO, {}), {})
    assert not app.errors, app.errors
    return app


def test_every_entity_a_trigger_reads_is_created() -> None:
    from shared.deadletters.storage import BLOB_TRIGGER_POISON

    env = bicep.literal_vars(MAIN)
    sessions = {q["name"]: q["requiresSession"] for q in env["serviceBusQueues"]}
    for spec in loaded_app().functions:
        trigger, name = spec.trigger, spec.name
        if trigger.type == "queueTrigger":
            queue, connection = trigger.get("queueName"), trigger.get("connection")
            if connection == "SensitiveStorage":
                assert queue in env["vaultQueueNames"], name
                assert f"{queue}-poison" in env["vaultQueueNames"], name
            elif queue == BLOB_TRIGGER_POISON:
                assert connection == "AzureWebJobsStorage", name  # the host creates it
            else:
                assert connection == "AzureWebJobsStorage", (name, connection)
                # <queue>-poison: the host creates it; the jobs app may create queues here.
                assert queue.removesuffix("-poison") in env["storageQueueNames"], name
        elif trigger.type == "blobTrigger":
            assert trigger.get("path").split("/")[0] in env["blobContainerNames"], name
        elif trigger.type == "serviceBusTrigger":
            queue = trigger.get("queueName")
            assert queue in sessions, name
            # A session receiver cannot read a plain queue, nor a plain one a session queue.
            assert sessions[queue] is bool(trigger.get("isSessionsEnabled")), name
        else:
            assert trigger.type in ("httpTrigger", "timerTrigger"), (name, trigger.type)


def test_each_function_runs_in_exactly_one_app_and_health_in_both() -> None:
    from funchost.core.loader import is_disabled

    env = bicep.literal_vars(MAIN)
    # What the modules write: AzureWebJobs.<name>.Disabled = true per listed function.
    for module in ("apiapp.bicep", "jobsapp.bicep"):
        assert "name: 'AzureWebJobs.${functionName}.Disabled'" in code_text(MODULES / module)
    disabled = {
        app: bicep.text(bicep.module_params(MAIN, f"{app}App")["disabledFunctions"])
        for app in ("api", "jobs")
    }
    assert disabled == {"api": "jobsFunctionNames", "jobs": "apiFunctionNames"}
    functions = {spec.name: spec for spec in loaded_app().functions}
    runs = {}
    for app, listed in (("api", env["jobsFunctionNames"]), ("jobs", env["apiFunctionNames"])):
        assert len(set(listed)) == len(listed), f"{app}: a function is listed twice"
        assert set(listed) <= functions.keys(), sorted(set(listed) - functions.keys())
        settings = {f"AzureWebJobs.{name}.Disabled": "true" for name in listed}
        runs[app] = {name for name in functions if not is_disabled(name, settings)}
    http = {name for name, spec in functions.items() if spec.trigger.type == "httpTrigger"}
    assert runs["api"] == http, "the API app runs the HTTP functions"
    assert runs["jobs"] == functions.keys() - http | {"health"}, "the jobs app runs the rest"
    assert runs["api"] & runs["jobs"] == {"health"}
    assert runs["api"] | runs["jobs"] == functions.keys()


def test_health_check_path_is_an_anonymous_route_of_the_app() -> None:
    path = bicep.var_value(MAIN, "healthCheckPath")
    prefix = HOST_JSON.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    routes = {}
    for name, node in app_functions():
        for deco in node.decorator_list:
            if (
                isinstance(deco, ast.Call)
                and isinstance(deco.func, ast.Attribute)
                and deco.func.attr == "route"
            ):
                kw = {k.arg: k.value for k in deco.keywords}
                route = ast.literal_eval(kw["route"]) if "route" in kw else name
                routes[f"/{prefix}/{route}".replace("//", "/")] = (name, kw.get("auth_level"))
    assert path in routes, f"{path} is none of the app's routes {sorted(routes)}"
    name, auth = routes[path]
    # The platform's health probe carries no function key.
    assert isinstance(auth, ast.Attribute) and auth.attr == "ANONYMOUS", f"{name} needs a key"
