"""host.json (version 2.0) with the real host's defaults, as frozen typed objects.

Every leaf of host.json can be overridden by an environment variable
`AzureFunctionsJobHost__<path>` (case-insensitive), as the real host maps each leaf to the
configuration key `AzureFunctionsJobHost:<path>` (functions-host-semantics.md §1.1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from funchost.config.http_limits import HttpLimits
from funchost.config.jsonfile import read_json_object
from funchost.config.settings_values import Section, SettingReader
from funchost.errors import ConfigError

ENV_PREFIX = "azurefunctionsjobhost__"
DEFAULT_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}


@dataclass(frozen=True)
class HttpOptions:
    """extensions.http (semantics §1, §6)."""

    route_prefix: str = "api"
    max_concurrent_requests: int = -1  # -1 = unbounded
    max_outstanding_requests: int = -1  # over the limit => 429


@dataclass(frozen=True)
class QueuesOptions:
    """extensions.queues (semantics §1, §2)."""

    max_polling_interval: timedelta = timedelta(minutes=1)
    visibility_timeout: timedelta = timedelta(0)
    batch_size: int = 16
    max_dequeue_count: int = 5
    new_batch_threshold: int = 8
    message_encoding: str = "base64"


@dataclass(frozen=True)
class BlobsOptions:
    """extensions.blobs (semantics §1, §3)."""

    max_degree_of_parallelism: int = 8
    poison_blob_threshold: int = 5


@dataclass(frozen=True)
class ServiceBusOptions:
    """extensions.serviceBus (semantics §1, §5)."""

    prefetch_count: int = 0
    auto_complete_messages: bool = True
    max_auto_lock_renewal_duration: timedelta = timedelta(minutes=5)
    max_concurrent_calls: int = 16
    max_concurrent_sessions: int = 8
    max_message_batch_size: int = 1000
    session_idle_timeout: timedelta | None = None


@dataclass(frozen=True)
class SingletonOptions:
    """singleton (semantics §1, W Singleton/SingletonOptions.cs)."""

    lock_period: timedelta = timedelta(seconds=15)
    listener_lock_period: timedelta = timedelta(minutes=1)
    listener_lock_recovery_polling_interval: timedelta = timedelta(minutes=1)
    lock_acquisition_polling_interval: timedelta = timedelta(seconds=5)


@dataclass(frozen=True)
class RetryOptions:
    """A retry policy: host.json `retry` or `@app.retry` (semantics §1.2)."""

    strategy: str  # "fixed_delay" | "exponential_backoff"
    max_retry_count: int  # -1 = forever
    delay_interval: timedelta = timedelta(0)
    minimum_interval: timedelta = timedelta(0)
    maximum_interval: timedelta = timedelta(0)


@dataclass(frozen=True)
class HostConfig:
    """Everything the host reads from host.json and the environment, parsed once."""

    app_dir: Path
    environment: str = "Production"
    function_timeout: timedelta | None = timedelta(minutes=30)
    functions: tuple[str, ...] | None = None
    http: HttpOptions = HttpOptions()
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    queues: QueuesOptions = QueuesOptions()
    blobs: BlobsOptions = BlobsOptions()
    service_bus: ServiceBusOptions = ServiceBusOptions()
    singleton: SingletonOptions = SingletonOptions()
    retry: RetryOptions | None = None
    log_levels: Mapping[str, str] = field(default_factory=dict)
    extension_bundle: Mapping[str, Any] | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    # `telemetryMode` at the root (H `ScriptHostBuilderExtensions.ConfigureTelemetry`):
    # "ApplicationInsights" (the default), "OpenTelemetry" or "None"; as given when it is
    # none of those (the host then warns and uses the default, as the real host does).
    telemetry_mode: str = "ApplicationInsights"

    @property
    def is_development(self) -> bool:
        return self.environment.lower() == "development"

    @classmethod
    def load(
        cls, app_dir: Path, environ: Mapping[str, str], processor_count: int | None = None
    ) -> HostConfig:
        """Read `<app_dir>/host.json`, apply environment overrides and defaults.

        Raises:
            ConfigError: the file is malformed or a setting is invalid; the message names
                the file and the setting path (and the environment variable if it came
                from one).
        """
        app_dir = app_dir.resolve()
        path = app_dir / "host.json"
        data: dict[str, Any] = read_json_object(path) if path.exists() else {"version": "2.0"}
        if "version" not in {k.lower() for k in data}:
            raise ConfigError(
                f'{path}: the required property \'version\' is missing (set "version": "2.0")'
            )
        sources: dict[tuple[str, ...], str] = {}
        for name, value in environ.items():
            if name.lower().startswith(ENV_PREFIX):
                keys = tuple(k for k in name.split("__")[1:] if k)
                if keys:
                    _set_path(data, keys, value)
                    sources[tuple(k.lower() for k in keys)] = name
        root = Section(data, (), SettingReader(str(path), sources))
        if str(root.get("version")) != "2.0":
            raise ConfigError(f"{path}: 'version' must be \"2.0\", got {root.get('version')!r}")
        cpus = processor_count or os.cpu_count() or 1
        environment = environ.get("AZURE_FUNCTIONS_ENVIRONMENT", "Production")
        return cls(
            app_dir=app_dir,
            environment=environment,
            function_timeout=_function_timeout(root),
            functions=_functions(root),
            http=_http(root.section("extensions", "http")),
            http_limits=HttpLimits.from_environ(environ),
            queues=_queues(
                root.section("extensions", "queues"), cpus, environment.lower() == "development"
            ),
            blobs=_blobs(root.section("extensions", "blobs"), cpus),
            service_bus=_service_bus(root.section("extensions", "serviceBus"), cpus),
            singleton=_singleton(root.section("singleton")),
            retry=parse_retry(root.section("retry")) if root.has("retry") else None,
            log_levels=_log_levels(root.section("logging", "logLevel")),
            extension_bundle=root.get("extensionBundle", DEFAULT_BUNDLE),
            extensions=root.get("extensions", {}) or {},
            telemetry_mode=_telemetry_mode(root),
        )


def _set_path(data: dict[str, Any], keys: tuple[str, ...], value: str) -> None:
    node = data
    for key in keys[:-1]:
        existing = next((k for k in node if k.lower() == key.lower()), None)
        if existing is None or not isinstance(node[existing], dict):
            node[existing or key] = {}
        node = node[existing or key]
    leaf = next((k for k in node if k.lower() == keys[-1].lower()), keys[-1])
    node[leaf] = value


TELEMETRY_MODES = ("ApplicationInsights", "OpenTelemetry", "None")


def _telemetry_mode(root: Section) -> str:
    raw = str(root.get("telemetryMode") or "ApplicationInsights").strip()
    return next((m for m in TELEMETRY_MODES if m.lower() == raw.lower()), raw)


def _function_timeout(root: Section) -> timedelta | None:
    if not root.has("functionTimeout"):
        return timedelta(minutes=30)
    raw = root.get("functionTimeout")
    if str(raw).strip() == "-1":
        return None  # unbounded (Dedicated/Premium/local)
    value: timedelta = root.timespan("functionTimeout", None)
    if value < timedelta(seconds=1):
        root.fail("functionTimeout", "must be at least 00:00:01 (or -1 for no limit)", raw)
    return value


def _functions(root: Section) -> tuple[str, ...] | None:
    raw = root.get("functions")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        root.fail("functions", "must be a list of function names", raw)
    return tuple(raw)


def _http(s: Section) -> HttpOptions:
    prefix = s.get("routePrefix", "api")
    if not isinstance(prefix, str):
        s.fail("routePrefix", "must be a string", prefix)
    return HttpOptions(
        route_prefix=prefix.strip("/"),
        max_concurrent_requests=s.integer("maxConcurrentRequests", -1, minimum=-1),
        max_outstanding_requests=s.integer("maxOutstandingRequests", -1, minimum=-1),
    )


def _queues(s: Section, cpus: int, development: bool) -> QueuesOptions:
    batch = s.integer("batchSize", 16, minimum=1, maximum=32)
    default_poll = timedelta(seconds=2) if development else timedelta(minutes=1)
    poll = s.timespan("maxPollingInterval", default_poll)
    if poll < timedelta(milliseconds=100):
        s.fail("maxPollingInterval", "must be at least 00:00:00.100", s.get("maxPollingInterval"))
    encoding = str(s.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        s.fail("messageEncoding", "must be 'base64' or 'none'", s.get("messageEncoding"))
    return QueuesOptions(
        max_polling_interval=poll,
        visibility_timeout=s.timespan("visibilityTimeout", timedelta(0)),
        batch_size=batch,
        max_dequeue_count=s.integer("maxDequeueCount", 5, minimum=1),
        new_batch_threshold=s.integer("newBatchThreshold", (batch // 2) * cpus, minimum=0),
        message_encoding=encoding,
    )


def _blobs(s: Section, cpus: int) -> BlobsOptions:
    return BlobsOptions(
        max_degree_of_parallelism=s.integer("maxDegreeOfParallelism", 8 * cpus, minimum=1),
        poison_blob_threshold=s.integer("poisonBlobThreshold", 5, minimum=1),
    )


def _service_bus(s: Section, cpus: int) -> ServiceBusOptions:
    # maxMessageBatchSize is the current name; maxMessages the older one.
    batch_key = "maxMessageBatchSize" if s.has("maxMessageBatchSize") else "maxMessages"
    idle = s.timespan("sessionIdleTimeout", None) if s.has("sessionIdleTimeout") else None
    return ServiceBusOptions(
        prefetch_count=s.integer("prefetchCount", 0, minimum=0),
        auto_complete_messages=s.boolean("autoCompleteMessages", True),
        max_auto_lock_renewal_duration=s.timespan(
            "maxAutoLockRenewalDuration", timedelta(minutes=5)
        ),
        max_concurrent_calls=s.integer("maxConcurrentCalls", 16 * cpus, minimum=1),
        max_concurrent_sessions=s.integer("maxConcurrentSessions", 8, minimum=1),
        max_message_batch_size=s.integer(batch_key, 1000, minimum=1),
        session_idle_timeout=idle,
    )


def _singleton(s: Section) -> SingletonOptions:
    return SingletonOptions(
        lock_period=s.timespan("lockPeriod", timedelta(seconds=15)),
        listener_lock_period=s.timespan("listenerLockPeriod", timedelta(minutes=1)),
        listener_lock_recovery_polling_interval=s.timespan(
            "listenerLockRecoveryPollingInterval", timedelta(minutes=1)
        ),
        lock_acquisition_polling_interval=s.timespan(
            "lockAcquisitionPollingInterval", timedelta(seconds=5)
        ),
    )


def parse_retry(s: Section) -> RetryOptions:
    """A retry section: host.json `retry` (camelCase) or the settings dict of `@app.retry`
    (snake_case); Section lookups ignore case and underscores, so both read the same."""
    strategy = {"fixeddelay": "fixed_delay", "exponentialbackoff": "exponential_backoff"}.get(
        str(s.get("strategy", "")).lower().replace("_", "")
    )
    if strategy is None:
        s.fail("strategy", "must be 'fixed_delay' or 'exponential_backoff'", s.get("strategy"))
    count = s.integer("maxRetryCount", None, minimum=-1)
    if strategy == "fixed_delay":
        return RetryOptions(strategy, count, delay_interval=s.timespan("delayInterval", None))
    low = s.timespan("minimumInterval", None)
    high = s.timespan("maximumInterval", None)
    if high < low:
        s.fail("maximumInterval", "must not be less than minimumInterval", s.get("maximumInterval"))
    return RetryOptions(strategy, count, minimum_interval=low, maximum_interval=high)


def _log_levels(s: Section) -> dict[str, str]:
    return {str(k): str(v) for k, v in s.items()}
