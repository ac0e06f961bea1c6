"""The timer trigger, with the real host's schedule monitor and singleton (semantics §4).

One loop per function, run only by the instance holding the function's listener lease
(§4.7). At start it reads the status blob `azure-webjobs-hosts/timers/{hostId}/
Host.Functions.<name>/status` (§4.4) and decides (§4.5): a missed occurrence gives one
immediate run with `IsPastDue=true`; else `runOnStartup` gives one immediate run; else it
waits for the next occurrence. Runs are serialized. After each run the status becomes
`{Last: run start, Next: next(Last)}` and is written back while monitoring, so a run that
outlasts the period is followed by one immediate run, never a burst. Without a storage
connection the timer runs unmonitored and unlocked, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import anyio
from anyio.abc import TaskStatus
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.meta import Datum

from funchost.core.expressions import required_setting
from funchost.core.invocation import Invocation, Invoke, Outcome
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import BindingError
from funchost.storage.singleton import (
    HOSTS_CONTAINER,
    STORAGE_ERRORS,
    BlobLease,
    ListenerSingleton,
    listener_lock_id,
    sleep_unless,
)
from funchost.timer.schedule import (
    DEFAULT_TIME,
    UTC,
    TimerSchedule,
    next_occurrences,
    parse_schedule,
    timer_zone,
)
from funchost.timer.status import (
    ScheduleStatus,
    after_run,
    check_start,
    format_local,
    status_blob_path,
)

log = logging.getLogger("funchost.timer")

PROGRAMMATIC_REASON = "This function was programmatically called via the host APIs."
Clock = Callable[[], datetime]


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass(frozen=True)
class TimerTriggerSpec:
    """The timerTrigger binding, parsed once: schedule (settings resolved), zone,
    runOnStartup, and useMonitor after the real host's automatic switch-off (§4.3)."""

    expression: str
    schedule: TimerSchedule
    zone: tzinfo
    run_on_startup: bool
    use_monitor: bool

    @classmethod
    def from_function(
        cls, spec: FunctionSpec, environ: Any, now: datetime | None = None
    ) -> TimerTriggerSpec:
        what = f"timer trigger of '{spec.name}'"
        expression = required_setting(spec.trigger, "schedule", environ, what=what).strip()
        try:
            zone = timer_zone(environ)
            schedule = parse_schedule(expression, zone)
        except ValueError as exc:
            raw = spec.trigger.text("schedule")
            source = "" if expression == raw else f"schedule '{raw}': "
            raise BindingError(f"{what}: {source}{exc}") from None
        monitor = _flag(spec.trigger.get("useMonitor"), True)
        if monitor and schedule.fires_more_than_once_a_minute(now or datetime.now(UTC)):
            monitor = False  # persisting a status for sub-minute schedules is not worth it
        return cls(
            expression, schedule, zone, _flag(spec.trigger.get("runOnStartup"), False), monitor
        )


class StatusStore:
    """The status blob (§4.4); JSON as Json.NET writes `ScheduleStatus`."""

    def __init__(self, container: Any, host_id: str, function: str, zone: tzinfo) -> None:
        self.path = status_blob_path(host_id, function)
        self.function = function
        self._container = container
        self._blob = container.get_blob_client(self.path)
        self._zone = zone

    async def read(self) -> ScheduleStatus | None:
        """None when there is no (readable) record; storage errors propagate."""
        try:
            stream = await self._blob.download_blob()
            data = await stream.readall()
        except ResourceNotFoundError:
            return None
        try:
            return ScheduleStatus.from_json(json.loads(data), self._zone)
        except ValueError as exc:
            log.warning(
                "The timer status of '%s' (%s) is unreadable (%s); starting afresh",
                self.function,
                self.path,
                exc,
            )
            return None

    async def write(self, status: ScheduleStatus) -> None:
        """Best effort, as the real host's UpdateStatusAsync: a failure is logged."""
        body = json.dumps(status.to_json(self._zone), separators=(",", ":"))
        for attempt in range(2):
            try:
                await self._blob.upload_blob(body, overwrite=True)
                return
            except ResourceNotFoundError:
                if attempt:
                    break
                with contextlib.suppress(ResourceExistsError):
                    await self._container.create_container()
            except STORAGE_ERRORS as exc:
                log.error(
                    "Function '%s' failed to update the timer trigger status: %s",
                    self.function,
                    exc,
                )
                return


class TimerTrigger:
    """The Listener for one timer function.

    Parameters:
        spec: the function; its timerTrigger binding is parsed here (BindingError for a
            bad schedule or time zone, naming the function and the setting).
        services: the host's; the status blob and lock use its storage connection
            (AzureWebJobsStorage), host id and `singleton` options.
        invoke: the function's composed invocation (retries included).
        clock: the current time (aware); tests may inject one.
    """

    runtime_retries = True  # @app.retry applies to timer triggers (semantics §1.2)

    def __init__(
        self,
        spec: FunctionSpec,
        services: HostServices,
        invoke: Invoke,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.spec = spec
        self._invoke = invoke
        self.trigger = TimerTriggerSpec.from_function(spec, services.environ)
        self._services = services
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._store: StatusStore | None = None
        self._singleton: ListenerSingleton | None = None
        what = f"timer trigger of '{spec.name}'"
        try:
            container = services.clients.blob_service(None, what=what).get_container_client(
                HOSTS_CONTAINER
            )
        except BindingError as exc:
            log.warning("%s; the timer runs on this instance alone and keeps no status", exc)
            return
        if self.trigger.use_monitor:
            self._store = StatusStore(container, services.host_id, spec.name, self.trigger.zone)
        options = services.config.singleton
        lease = BlobLease(
            container,
            listener_lock_id(services.host_id, spec.name),
            options.listener_lock_period.total_seconds(),
            owner=services.instance_id,
        )
        self._singleton = ListenerSingleton(lease, options, f"timer '{spec.name}'")

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # Started at once: waiting for the lease or for storage must not hold up the host.
        task_status.started()
        if self._singleton is None:
            await self._listen()
        else:
            await self._singleton.run(self._listen, self._services.stopping)

    async def call(self, input: str | None) -> Outcome:
        """`POST /admin/functions/{name}` (§6.6): the input is ignored; the current status
        (when monitoring) and IsPastDue false (X `TimerTriggerBinding.BindAsync`)."""
        status = None
        if self._store is not None:
            try:
                status = await self._store.read()
            except STORAGE_ERRORS as exc:
                log.warning("The timer status of '%s' is unavailable: %s", self.spec.name, exc)
        return await self._invoke(self._invocation(status, False, PROGRAMMATIC_REASON))

    # -- the loop, run while holding the lease ----------------------------------------
    async def _listen(self) -> None:
        trigger = self.trigger
        now = self._clock()
        log.info(
            "The next 5 occurrences of the '%s' schedule (%s) will be:\n%s",
            self.spec.name,
            trigger.schedule.describe(),
            "\n".join(next_occurrences(trigger.schedule, now, trigger.zone)),
        )
        status, past_due = await self._initial_status(now)
        pending: str | None = None
        if past_due:
            log.info("Function '%s' is past due on startup. Executing now.", self.spec.name)
            pending = "past due"
        elif trigger.run_on_startup:
            log.info(
                "Function '%s' is configured to run on startup. Executing now.", self.spec.name
            )
            pending = "startup"
        while not self._services.stopping.is_set():
            if pending is None and not await self._wait_until(status.next):
                return
            status = await self._fire(status, pending)
            pending = None

    async def _initial_status(self, now: datetime) -> tuple[ScheduleStatus, bool]:
        schedule = self.trigger.schedule
        if self._store is None:
            return ScheduleStatus(DEFAULT_TIME, schedule.next_occurrence(now), DEFAULT_TIME), False
        stored = await self._store.read()
        check = check_start(stored, now, schedule)
        log.debug(
            "Function '%s' initial status: %s",
            self.spec.name,
            stored.to_json(self.trigger.zone) if stored else None,
        )
        if check.write is not None:
            await self._store.write(check.write)
        return check.status, check.past_due

    async def _wait_until(self, target: datetime) -> bool:
        """Sleep until the wall clock reaches `target`; False if the host stops first.
        Re-reads the clock after each sleep (in hour-long slices for long waits), so a
        wake-up a little early or a clock change never fires before the occurrence."""
        stopping = self._services.stopping
        while not stopping.is_set():
            left = (target - self._clock()).total_seconds()
            if left <= 0:
                return True
            if await sleep_unless(stopping, min(left, 3600.0)):
                return False
        return False

    async def _fire(self, status: ScheduleStatus, pending: str | None) -> ScheduleStatus:
        invoked_at = self._clock()
        reason = f"Timer fired at {format_local(invoked_at, self.trigger.zone, trim=False)}"
        shown = status if self._store is not None else None
        try:
            await self._invoke(self._invocation(shown, pending == "past due", reason))
        except Exception:
            log.exception("Error occurred during scheduled invocation for '%s'.", self.spec.name)
        status = after_run(status, invoked_at, self.trigger.schedule, scheduled=pending is None)
        if self._store is not None:
            await self._store.write(status)
        return status

    def _invocation(self, status: ScheduleStatus | None, past_due: bool, reason: str) -> Invocation:
        zone = self.trigger.zone
        # Binding data `{TimerTrigger}`: the local time, as X `TimerTriggerBinding` gives it.
        fired = self._clock().astimezone(zone).strftime("%m/%d/%Y %H:%M:%S")
        datum = timer_datum(self.trigger.schedule, status, zone, past_due)
        return Invocation(
            self.spec,
            datum,
            reason,
            metadata={"TimerTrigger": Datum(fired, "string")},
            binding_data={"TimerTrigger": fired},
        )


def timer_datum(
    schedule: TimerSchedule, status: ScheduleStatus | None, zone: tzinfo, past_due: bool
) -> Datum:
    """The TimerInfo the worker decodes (§4.6) with the library's timerTrigger converter:
    JSON `{"Schedule": {"AdjustForDST": ...}, "ScheduleStatus": {...} | null, "IsPastDue"}`.
    ScheduleStatus is null unless monitoring; AdjustForDST is false for a TimeSpan period,
    as the real `ConstantSchedule` says."""
    info = {
        "Schedule": {"AdjustForDST": schedule.adjust_for_dst},
        "ScheduleStatus": status.to_json(zone) if status is not None else None,
        "IsPastDue": past_due,
    }
    return Datum(json.dumps(info), "json")
