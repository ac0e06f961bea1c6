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


def role_assignments(symbol: str) -> dict[str, list[Any]]:
    params = bicep.module_params(MAIN, symbol)
    env = bicep.literal_vars(MAIN)
    out: dict[str, list[Any]] = {}
    for key in (
        "storageAccountRoles",
        "storageQueueRoles",
        "serviceBusQueueRoles",
        "serviceBusTopicRoles",
    ):
        node = params.get(key)
        if node is None:
            out[key] = []
        elif node.type == "for_statement":
            out[key] = [bicep.text(node)]
        else:
            try:
                out[key] = bicep.literal(node, env)
            except bicep.NotLiteral:
                out[key] = [bicep.text(node)]
    return out


def test_service_bus_roles_are_entity_scoped_and_minimal() -> None:
    api = role_assignments("apiRoles")
    jobs = role_assignments("jobsRoles")
    assert api["serviceBusQueueRoles"] == [
        {"queue": "orders", "role": "Azure Service Bus Data Sender"}
    ]
    assert api["serviceBusTopicRoles"] == []
    assert {(r["queue"], r["role"]) for r in jobs["serviceBusQueueRoles"]} == {
        ("orders", "Azure Service Bus Data Receiver"),
        ("replies", "Azure Service Bus Data Sender"),
    }
    assert jobs["serviceBusTopicRoles"] == [
        {"topic": "job-events", "role": "Azure Service Bus Data Sender"}
    ]
    # Service Bus Data Owner only for KEDA, on the one queue it scales on.
    modules = bicep.declared(MAIN, "module")
    for symbol, module in modules.items():
        if bicep.literal(module.node.children[2]).endswith("roles.bicep"):
            roles = role_assignments(symbol)
            owners = [
                r
                for key in ("serviceBusQueueRoles", "serviceBusTopicRoles")
                for r in roles[key]
                if "Azure Service Bus Data Owner" in str(r)
            ]
            expected = [{"queue": "orders", "role": "Azure Service Bus Data Owner"}]
            assert owners == (expected if symbol == "scalerRoles" else []), symbol
    roles = code_text(MODULES / "roles.bicep")
    assert "scope: serviceBusNamespace\n" not in roles, "no namespace-wide Service Bus role"


def test_storage_roles_follow_what_each_app_touches() -> None:
    api = role_assignments("apiRoles")
    jobs = role_assignments("jobsRoles")
    assert set(api["storageAccountRoles"]) == {
        "Storage Blob Data Owner",
        "Storage Table Data Contributor",
    }
    assert "jobQueueNames" in api["storageQueueRoles"][0], "API enqueues on the job queues only"
    assert set(jobs["storageAccountRoles"]) == {
        "Storage Blob Data Owner",
        "Storage Queue Data Contributor",
        "Storage Table Data Contributor",
    }


def test_every_role_name_used_has_a_built_in_id() -> None:
    ids = bicep.var_value(MODULES / "roles.bicep", "roleIds")
    for role_id in ids.values():
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", role_id
        )
    used = set(
        re.findall(r"'((?:Storage|Azure Service Bus|Monitoring) [A-Za-z ]+)'", code_text(MAIN))
    )
    assert used <= ids.keys(), sorted(used - ids.keys())


# --- 4. names -------------------------------------------------------------------------------------

# What each name must look like (Azure's naming rules for the resource type).
NAME_RULES: dict[str, tuple[str, int, int]] = {
    "workspace": (r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", 4, 63),
    "appInsights": (r"[^%&\\?/]+", 1, 260),
    "storage": (r"[a-z0-9]+", 3, 24),
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
AWKWARD_PREFIXES = ["a", "1abc", "My-App_Ünï", "---", "x" * 24, "prod.eu west 2", "日本語", "Z9"]
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


def test_name_prefix_bounds_match_names_module() -> None:
    main, names = (
        bicep.declared(p, "param")["namePrefix"].decorators for p in (MAIN, MODULES / "names.bicep")
    )
    bounds = [d for d in main if d.startswith(("@minLength", "@maxLength"))]
    assert bounds == ["@minLength(1)", "@maxLength(24)"]
    assert bounds == [d for d in names if d.startswith(("@minLength", "@maxLength"))]


# --- 5. host.json vs the entities and the plans -------------------------------------------------


def service_bus_entities() -> list[dict[str, Any]]:
    """Every Service Bus queue and subscription as deployed: module defaults + main's values."""
    max_delivery = HOST_JSON["extensions"]["queues"]["maxDequeueCount"]
    defaults = bicep.var_value(
        MODULES / "servicebus.bicep", "entityDefaults", {"maxDeliveryCount": max_delivery}
    )
    env = bicep.literal_vars(MAIN)
    return [{**defaults, **entity} for entity in env["serviceBusQueues"]] + [
        {**defaults, **entity} for entity in env["serviceBusSubscriptions"]
    ]


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
    from shared.ordering.servicebus import DEFAULT_QUEUE
    from shared.results.events import DEFAULT_EVENTS
    from shared.results.reply import DEFAULT_REPLY_QUEUE

    env = bicep.literal_vars(MAIN)
    assert env["orderingQueueName"] == DEFAULT_QUEUE
    assert env["replyQueueName"] == DEFAULT_REPLY_QUEUE
    assert env["eventsTopicName"] == DEFAULT_EVENTS
    assert {q["name"] for q in env["serviceBusQueues"]} == {DEFAULT_QUEUE, DEFAULT_REPLY_QUEUE}
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
    scale_queues = bicep.text(bicep.module_params(MAIN, "jobsApp")["scaleQueues"])
    assert "jobQueueNames[0]" in scale_queues and "jobQueueNames[1]" in scale_queues
    sb = bicep.literal(bicep.module_params(MAIN, "jobsApp")["scaleServiceBusQueues"], env)
    assert {q["name"] for q in sb} <= {q["name"] for q in env["serviceBusQueues"]}


# --- 8. networking --------------------------------------------------------------------------------


def test_private_networking_closes_public_access_and_integrates_both_apps() -> None:
    code = code_text(MAIN)
    assert "var publicNetworkAccess = privateNetworking ? 'Disabled' : 'Enabled'" in code
    assert "var effectiveServiceBusSku = privateNetworking ? 'Premium' : serviceBusSku" in code
    for module in ("storage", "serviceBus"):
        assert bicep.text(bicep.module_params(MAIN, module)["publicNetworkAccess"]) == (
            "publicNetworkAccess"
        )
    for module, output in (("apiApp", "apiSubnetId"), ("jobsApp", "jobsSubnetId")):
        value = bicep.text(bicep.module_params(MAIN, module)["subnetId"])
        assert value == f"privateNetworking ? network.outputs.{output} : ''", value
    network = code_text(MODULES / "network.bicep")
    for group in ("'blob'", "'queue'", "'table'", "'namespace'"):
        assert f"group: {group}" in network, group
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


@pytest.mark.parametrize("module", ["apiapp.bicep", "jobsapp.bicep"])
def test_app_connections_and_settings_are_configured(module: str) -> None:
    from shared import servicebus, storage

    names = shared_app_settings() | set(bicep.var_value(MODULES / module, "planSettings"))
    connections = {"AzureWebJobsStorage", storage.DEFAULT_SETTING, servicebus.DEFAULT_SETTING}
    for connection in sorted(connections | app_keyword_strings("connection")):
        assert configured(connection, names), f"{module}: connection {connection!r} has no setting"
    referenced = {m for source in APP_SOURCES for m in re.findall(r"%(\w+)%", source.read_text())}
    assert referenced <= names, f"{module}: %Setting% not set: {sorted(referenced - names)}"
    assert not shared_app_settings() & set(bicep.var_value(MODULES / module, "planSettings"))


def test_storage_entities_match_the_jobs_library_defaults() -> None:
    from shared import checkpoints, locks, priority
    from shared.idempotency import ledger
    from shared.ordering import sequencer
    from shared.results import events
    from shared.status import store

    env = bicep.literal_vars(MAIN)
    assert env["jobsQueueBaseName"] == priority.PriorityQueues().base
    queues = priority.PriorityQueues()
    assert set(env["storageQueueNames"]) == {queues.name(p) for p in priority.Priority} | {
        events.DEFAULT_EVENTS
    }
    assert set(env["blobContainerNames"]) == {
        locks.DEFAULT_CONTAINER,
        checkpoints.DEFAULT_CONTAINER,
    }
    assert set(env["tableNames"]) == {
        store.DEFAULT_TABLE,
        ledger.DEFAULT_TABLE,
        checkpoints.DEFAULT_TABLE,
        sequencer.DEFAULT_TABLE,
    }


def test_disabled_functions_exist_and_run_somewhere() -> None:
    functions = {name for name, _ in app_functions()}
    disabled = {}
    for app in ("api", "jobs"):
        names = set(bicep.param_default(MAIN, f"{app}DisabledFunctions"))
        for path in PARAM_FILES:
            names |= set(bicep.bicepparam_values(path).get(f"{app}DisabledFunctions", []))
        assert names <= functions, f"{app}: no such functions {sorted(names - functions)}"
        disabled[app] = names
    assert not disabled["api"] & disabled["jobs"], "disabled in both apps: runs nowhere"


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
