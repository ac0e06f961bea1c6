"""The blob trigger (semantics §3): a scan of the watched containers hands new and changed
blobs to the host's queue `azure-webjobs-blobtrigger-{hostId}`; every host instance
consumes that queue with the queue trigger's semantics and runs the function. One scanner
runs per host id at a time (blob lease `locks/{hostId}/WebJobs.Internal.Blobs.Listener`);
after poisonBlobThreshold failures the message goes to `webjobs-blobtrigger-poison`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus
from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.functions.meta import Datum

from funchost.core.converters import SDK_PREFIX
from funchost.core.expressions import required_setting
from funchost.core.invocation import Invocation, Invoke, Outcome
from funchost.core.logs import brief
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import BindingError
from funchost.storage.blob_scan import ContainerScanner, Watcher
from funchost.storage.blob_sdk import BlobSdkObjects
from funchost.storage.blobs import (
    BlobPattern,
    blob_container_key,
    ensure_container,
    properties_json,
)
from funchost.storage.notify import QueueNotifier, Watch
from funchost.storage.queue_poller import PollerSettings, QueuePoller, lease_seconds
from funchost.storage.queues import BLOB_TRIGGER_POISON, Codec, blob_trigger_queue, ensure_queue
from funchost.storage.singleton import HOSTS_CONTAINER, BlobLease, ListenerSingleton

log = logging.getLogger("funchost.blob")

POISON_QUEUE = BLOB_TRIGGER_POISON
SCAN_INTERVAL_SETTING = "FUNCHOST_BLOB_SCAN_INTERVAL"  # seconds; the real host scans every 10


@dataclass(frozen=True)
class BlobTriggerSpec:
    pattern: BlobPattern
    connection: str | None
    source: str
    as_string: bool

    @classmethod
    def from_function(cls, spec: FunctionSpec, environ: Any) -> BlobTriggerSpec:
        what = f"blob trigger of '{spec.name}'"
        pattern = BlobPattern.parse(
            required_setting(spec.trigger, "path", environ, what=what), what=what
        )
        source = spec.trigger.text("source") or "LogsAndContainerScan"
        as_string = (spec.trigger.text("dataType") or "").lower() == "string"
        return cls(pattern, spec.trigger.text("connection"), source, as_string)


class BlobTrigger:
    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self._invoke = invoke
        self.trigger = BlobTriggerSpec.from_function(spec, services.environ)
        if self.trigger.source.lower() == "eventgrid":
            log.warning(
                "Function '%s' uses source=EventGrid; funchost scans the container "
                "instead (Event Grid cannot reach a local host)",
                spec.name,
            )
        self._services = services
        what = f"blob trigger of '{spec.name}'"
        service = services.clients.blob_service(self.trigger.connection, what=what)
        self.container = service.get_container_client(self.trigger.pattern.container)
        param = spec.trigger_param
        # An SDK-type parameter (blob.BlobClient, ...) gets a client, not the content: the
        # real host then sends ModelBindingData instead of downloading the blob.
        self._sdk = (
            BlobSdkObjects(services, self.trigger.connection, param.pytype, what)
            if param.converter.startswith(SDK_PREFIX)
            else None
        )
        self.hub = services.shared(BlobTriggerHub, lambda: BlobTriggerHub(services))
        self.hub.register(self)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await self.hub.run_once()

    async def backlog(self) -> int:
        return await self.hub.backlog()

    async def load(self, name: str, etag: str | None) -> tuple[Any, bytes | None]:
        """The blob's properties and content (None for an SDK-type parameter, which gets a
        client instead); only while its ETag is `etag` when given.

        Raises:
            ResourceNotFoundError: the blob is gone.
            ResourceModifiedError: it was overwritten since `etag`.
        """
        blob = self.container.get_blob_client(name)
        condition: dict[str, Any] = (
            {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        )
        if self._sdk is not None:
            # The host checks the version it was told of (N BlobQueueTriggerExecutor) and
            # leaves the reading to the function.
            return await blob.get_blob_properties(**condition), None
        downloader = await blob.download_blob(**condition)
        return downloader.properties, await downloader.readall()

    async def invoke_blob(self, blob: Any, data: bytes | None, reason: str) -> Outcome:
        """Run the function for a blob (`blob` = its properties, `data` = its content, or
        None for an SDK-type parameter)."""
        name = blob.name
        values: dict[str, Any] = dict(self.trigger.pattern.match(name) or {})
        blob_path = f"{self.trigger.pattern.container}/{name}"
        url = f"{self.container.url.rstrip('/')}/{name}"
        props = properties_json(blob)
        values.update(
            {
                "BlobTrigger": blob_path,
                "Uri": url,
                "Properties": props,
                "Metadata": dict(blob.metadata or {}),
            }
        )
        metadata = {
            "BlobTrigger": Datum(blob_path, "string"),
            "Uri": Datum(url, "string"),
            "Properties": Datum(json.dumps(props), "json"),
            "Metadata": Datum(json.dumps(dict(blob.metadata or {})), "json"),
        }
        for key, value in values.items():
            metadata.setdefault(key, Datum(str(value), "string"))
        if data is None:
            assert self._sdk is not None
            datum = await self._sdk.datum(self.trigger.pattern.container, name)
        elif self.trigger.as_string:
            datum = Datum(data.decode("utf-8", "replace"), "string")
        else:
            datum = Datum(data, "bytes")
        return await self._invoke(Invocation(self.spec, datum, reason, metadata, values))

    async def call(self, input: str | None) -> Outcome:
        # An admin call names the blob as "container/path" (§6.6).
        container, _, name = (input or "").strip().lstrip("/").partition("/")
        if container.lower() != self.trigger.pattern.container or not name:
            raise BindingError(
                f"'{self.spec.name}' needs input '{self.trigger.pattern.container}/<blob name>'"
            )
        properties, data = await self.load(name, None)
        return await self.invoke_blob(
            properties, data, "This function was programmatically called via the host APIs."
        )


class BlobTriggerHub:
    """Per host: the scanner (one instance per host id) and the internal-queue consumer."""

    def __init__(self, services: HostServices) -> None:
        self._services = services
        self._notifier = QueueNotifier.of(services)
        self._triggers: dict[str, BlobTrigger] = {}
        self._started = False
        self.sweeps = 0  # full passes over the watched containers by this host's scanner
        self.scanning = False  # this host holds the scanner lease and scans
        self._swept = anyio.Event()
        host_storage = services.clients.blob_service(
            "AzureWebJobsStorage", what="the blob trigger's host storage"
        )
        self._hosts = host_storage.get_container_client(HOSTS_CONTAINER)
        queue_service = services.clients.queue_service(
            "AzureWebJobsStorage", what="the blob trigger's host queue"
        )
        self._queue_name = blob_trigger_queue(services.host_id)
        self._queue = queue_service.get_queue_client(self._queue_name)
        self._codec = Codec(services.config.queues.message_encoding)
        self._interval = float(services.environ.get(SCAN_INTERVAL_SETTING, "10") or 10)

    def next_sweep(self) -> anyio.Event:
        """Set when this host's scanner finishes its next full pass (never, while another
        instance holds the scanner lease)."""
        return self._swept

    async def backlog(self) -> int:
        """Blob trigger messages waiting in the host queue."""
        try:
            return len(await self._queue.peek_messages(max_messages=32))
        except ResourceNotFoundError:
            return 0

    def register(self, trigger: BlobTrigger) -> None:
        self._triggers[f"Host.Functions.{trigger.spec.name}".lower()] = trigger

    async def run_once(self) -> None:
        """The first listener to start runs the hub; the others wait for the host's stop."""
        if self._started:
            await self._services.stopping.wait()
            return
        self._started = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._scan_as_singleton)
                await self._consume()
                tg.cancel_scope.cancel()
        finally:
            self._started = False

    # -- the scanner ------------------------------------------------------------------------
    async def _scan_as_singleton(self) -> None:
        services = self._services
        lease = BlobLease(
            self._hosts,
            f"{services.host_id}/WebJobs.Internal.Blobs.Listener",
            services.config.singleton.listener_lock_period.total_seconds(),
        )
        singleton = ListenerSingleton(lease, services.config.singleton, "the blob scanner")
        await singleton.run(self._scan_forever, services.stopping)

    async def _scan_forever(self) -> None:
        self.scanning = True
        try:
            await self._sweep_until_stopping()
        finally:
            self.scanning = False

    async def _sweep_until_stopping(self) -> None:
        scanners = self._scanners()
        watches = [self._notifier.watch(blob_container_key(c)) for c in scanners]
        while not self._services.stopping.is_set():
            for container, scanner in scanners.items():
                try:
                    await scanner.sweep()
                except AzureError as exc:
                    log.warning(
                        "Scanning container '%s' failed (%s); next scan in %.0fs",
                        container,
                        brief(exc),
                        self._interval,
                    )
            self.sweeps += 1
            done, self._swept = self._swept, anyio.Event()
            done.set()
            # A blob output in this host wakes the scan at once (§3.4); otherwise wait.
            with anyio.move_on_after(self._interval):
                await _first_of(watches, self._services.stopping)

    def _scanners(self) -> dict[str, ContainerScanner]:
        groups: dict[tuple[str, str], list[Watcher]] = defaultdict(list)
        for trigger in self._triggers.values():
            watcher = Watcher(trigger.spec.name, trigger.trigger.pattern, trigger.container)
            groups[(trigger.container.account_name, trigger.trigger.pattern.container)].append(
                watcher
            )
        return {
            container: ContainerScanner(
                watchers, self._hosts, self._services.host_id, account, self._enqueue
            )
            for (account, container), watchers in groups.items()
        }

    async def _enqueue(self, message: dict[str, str]) -> None:
        await ensure_queue(self._queue)
        await self._queue.send_message(self._codec.encode(json.dumps(message)))
        self._notifier.notify(self._queue_name)

    # -- the consumer -----------------------------------------------------------------------
    async def _consume(self) -> None:
        config = self._services.config
        mdop = config.blobs.max_degree_of_parallelism
        batch = min(32, mdop // 2 + 1)  # N SharedBlobQueueListenerFactory.cs
        settings = PollerSettings(
            batch,
            max(0, mdop - batch),
            config.blobs.poison_blob_threshold,
            config.queues.visibility_timeout,
            config.queues.max_polling_interval,
            lease_seconds(self._services.environ),
        )
        await ensure_container(self._hosts)
        poller = QueuePoller(
            self._queue,
            self._poison_for,
            settings,
            self._codec,
            self._run,
            self._notifier.watch(self._queue_name),
            self._services.stopping,
            f"blob trigger queue '{self._queue_name}'",
        )
        await poller.run()

    def _poison_for(self, msg: Any) -> Any:
        trigger = self._trigger_of(msg)
        if trigger is None:
            return None
        # The poison queue lives in the blob's own account (N `HostQueueNames.cs`).
        service = self._services.clients.queue_service(trigger.trigger.connection)
        return service.get_queue_client(POISON_QUEUE)

    def _trigger_of(self, msg: Any) -> BlobTrigger | None:
        try:
            data = json.loads(self._codec.decode(msg.content))
            return self._triggers.get(str(data.get("FunctionId", "")).lower())
        except (ValueError, AttributeError):
            return None

    async def _run(self, msg: Any, body: bytes) -> Outcome | None:
        """Run the function a host-queue message names; None when it is dropped."""
        try:
            data = json.loads(body)
            function_id, name, etag = data["FunctionId"], data["BlobName"], data["ETag"]
        except (ValueError, KeyError, TypeError) as exc:
            log.error("Dropping malformed blob trigger message %s: %s", msg.id, exc)
            return None
        trigger = self._triggers.get(function_id.lower())
        if trigger is None:
            log.info("Dropping blob trigger message for '%s': no such function here", function_id)
            return None
        try:
            properties, data_bytes = await trigger.load(name, etag)
        except ResourceNotFoundError:
            return None  # deleted since it was seen (§3.4)
        except ResourceModifiedError:
            # Overwritten since: the scan hands on the new version (§3.4).
            self._notifier.notify(blob_container_key(trigger.trigger.pattern.container))
            return None
        reason = (
            f"New blob detected({trigger.trigger.source}): "
            f"{trigger.trigger.pattern.container}/{name}"
        )
        return await trigger.invoke_blob(properties, data_bytes, reason)


async def _first_of(watches: list[Watch], stopping: anyio.Event) -> None:
    """Return as soon as any watch fires or the host stops (callers bound the wait)."""
    async with anyio.create_task_group() as tg:

        async def one(wait: Callable[[], Awaitable[None]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for watch in watches:
            tg.start_soon(one, watch.wait)
        tg.start_soon(one, stopping.wait)
