"""What funchost does not run, said plainly (issue 15 item 14).

Binding types the `azure-functions` library's decorators write (PL `decorators/constants.py`)
for services funchost has no plug-in for, grouped by service, each with one line saying
why. The loader marks a function that uses one with that line instead of a bare "no trigger
plug-in", so `funchost list` and the start-up listing say what is missing and what to do.
A trigger type registered by a third-party plug-in (entry-point group `funchost.triggers`)
is supported, whatever this table says. docs/fidelity.md lists the same services.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

from funchost.errors import FunctionLoadError

# The entry-point group of trigger plug-ins (`funchost.triggers.ENTRY_POINT_GROUP`; the core
# may not import the triggers room, and a unit test keeps the two equal).
TRIGGER_ENTRY_POINTS = "funchost.triggers"

ALTERNATIVE = "run it with Core Tools (`func start`) or on Azure"


class UnsupportedFunction(FunctionLoadError):
    """A function that uses a service funchost has no plug-in for; the reason starts with
    "not supported:" and names the service."""


def load_error(function: str, reason: str) -> FunctionLoadError:
    """The error a worker process reported as (function, reason), of its kind again."""
    if reason.startswith("not supported:"):
        return UnsupportedFunction(function, reason)
    return FunctionLoadError(function, reason)


@dataclass(frozen=True)
class Unsupported:
    service: str  # what the user knows it as
    reason: str  # one line: why funchost cannot run it

    def describe(self, binding_type: str) -> str:
        return f"not supported: {self.service} ({binding_type}): {self.reason}"


_DURABLE = Unsupported(
    "Durable Functions",
    "orchestrations, activities and entities need the Durable Task extension and its task "
    f"hub, which funchost does not implement; {ALTERNATIVE}",
)
_EVENT_HUBS = Unsupported(
    "Event Hubs",
    f"there is no Event Hubs trigger or output here (and no local Event Hubs); {ALTERNATIVE}",
)
_EVENT_GRID = Unsupported(
    "Event Grid",
    "Event Grid delivers events by webhook to a public endpoint and funchost has no Event "
    f"Grid trigger or output; {ALTERNATIVE}",
)
_COSMOS = Unsupported(
    "Cosmos DB", f"there is no Cosmos DB change-feed trigger or binding here; {ALTERNATIVE}"
)
_SQL = Unsupported("Azure SQL", f"there is no SQL trigger or binding here; {ALTERNATIVE}")
_MYSQL = Unsupported("MySQL", f"there is no MySQL trigger or binding here; {ALTERNATIVE}")
_KAFKA = Unsupported("Kafka", f"there is no Kafka trigger or output here; {ALTERNATIVE}")
_RABBITMQ = Unsupported("RabbitMQ", f"there is no RabbitMQ trigger or output here; {ALTERNATIVE}")
_SIGNALR = Unsupported(
    "SignalR Service", f"there is no SignalR trigger or binding here; {ALTERNATIVE}"
)
_WEB_PUBSUB = Unsupported(
    "Web PubSub", f"there is no Web PubSub trigger or binding here; {ALTERNATIVE}"
)
_DAPR = Unsupported(
    "Dapr", f"Dapr triggers and bindings need the Dapr extension and sidecar; {ALTERNATIVE}"
)
_OPENAI = Unsupported(
    "Azure OpenAI extension", f"its triggers and bindings are not implemented; {ALTERNATIVE}"
)
_REDIS = Unsupported("Redis", f"there is no Redis trigger or binding here; {ALTERNATIVE}")
_SENDGRID = Unsupported("SendGrid", f"there is no SendGrid output here; {ALTERNATIVE}")
_TWILIO = Unsupported("Twilio", f"there is no Twilio output here; {ALTERNATIVE}")

_FAMILIES: dict[Unsupported, tuple[str, ...]] = {
    _DURABLE: ("orchestrationTrigger", "activityTrigger", "entityTrigger", "durableClient"),
    _EVENT_HUBS: ("eventHubTrigger", "eventHub"),
    _EVENT_GRID: ("eventGridTrigger", "eventGrid"),
    _COSMOS: ("cosmosDBTrigger", "cosmosDB"),
    _SQL: ("sqlTrigger", "sql"),
    _MYSQL: ("mysqlTrigger", "mysql"),
    _KAFKA: ("kafkaTrigger", "kafka"),
    _RABBITMQ: ("rabbitMQTrigger", "rabbitMQ"),
    _SIGNALR: ("signalRTrigger", "signalR", "signalRConnectionInfo"),
    _WEB_PUBSUB: (
        "webPubSubTrigger",
        "webPubSub",
        "webPubSubConnection",
        "webPubSubContext",
    ),
    _DAPR: (
        "daprServiceInvocationTrigger",
        "daprBindingTrigger",
        "daprTopicTrigger",
        "daprState",
        "daprSecret",
        "daprPublish",
        "daprInvoke",
        "daprBinding",
    ),
    _OPENAI: (
        "assistantSkillTrigger",
        "textCompletion",
        "assistantQuery",
        "assistantCreate",
        "assistantPost",
        "embeddings",
        "embeddingsStore",
        "semanticSearch",
    ),
    _REDIS: ("redisPubSubTrigger", "redisListTrigger", "redisStreamTrigger", "redis"),
    _SENDGRID: ("sendGrid",),
    _TWILIO: ("twilioSms",),
}

# Binding type (lower-case, as the host compares types) -> its service.
UNSUPPORTED: dict[str, Unsupported] = {
    t.lower(): family for family, types in _FAMILIES.items() for t in types
}

# host.json settings funchost reads nothing from, with what it does instead.
UNSUPPORTED_HOST_SETTINGS: dict[str, str] = {
    "telemetryMode": "funchost writes its logs to the console only (no OpenTelemetry or "
    "Application Insights export); the setting is ignored",
    "managedDependency": "a PowerShell setting; it is ignored",
}


def _plugin_triggers() -> set[str]:
    return {ep.name.lower() for ep in entry_points(group=TRIGGER_ENTRY_POINTS)}


def unsupported_reason(trigger_type: str, binding_types: list[str]) -> str | None:
    """The one-line reason a function with this trigger and these other bindings cannot
    run here, else None. A trigger type a plug-in registered is supported; the trigger is
    looked at first, then each binding in order."""
    trigger = UNSUPPORTED.get(trigger_type.lower())
    if trigger is not None and trigger_type.lower() not in _plugin_triggers():
        return trigger.describe(trigger_type)
    for binding_type in binding_types:
        family = UNSUPPORTED.get(binding_type.lower())
        if family is not None:
            return family.describe(binding_type)
    return None


def unsupported_host_settings(host_json: dict[str, object]) -> list[str]:
    """One line per top-level host.json setting funchost ignores on purpose."""
    low = {k.lower(): k for k in host_json}
    return [
        f"host.json {low[name.lower()]}: {why}"
        for name, why in UNSUPPORTED_HOST_SETTINGS.items()
        if name.lower() in low
    ]
