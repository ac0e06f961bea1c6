"""The reliability suite: hosts, Azurite and the Service Bus emulator crashed, stopped,
starved and fed bad input, with the figures each scenario prints (docs/reliability.md).

Real processes where a crash is the point (kill -9 of a host or the emulator), the
in-process harness elsewhere. Each test uses its own queues, tables and emulator.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from funchost.devservices.servicebus import ServiceBusEmulator
from tests.conftest import REPO
from tests.hostprocess import HostProcess

APP = REPO / "tests" / "apps" / "reliability_app"


def settings(tag: str | None = None, **extra: str) -> dict[str, str]:
    """Every setting the reliability app needs, with names unique to one test."""
    t = tag or uuid.uuid4().hex[:10]
    return {
        "REL_Q": f"rq{t}",
        "REL_SBQ": f"rsb{t}",
        "REL_SLOW_Q": f"rslow{t}",
        "REL_SLOW_SBQ": f"rslowsb{t}",
        "REL_STUCK_Q": f"rstuck{t}",
        "REL_MIXED_Q": f"rmixed{t}",
        "REL_MIXED_SBQ": f"rmixedsb{t}",
        "REL_RELAY_SBQ": f"rrelay{t}",
        "REL_TIMER_SCHEDULE": "0 0 0 1 1 *",
        "REL_CONTAINER": f"rc{t}",
        "REL_TABLE": f"rt{t}",
        "REL_LEDGER": f"RelLedger{t}",
        **extra,
    }


def emulator_for(
    s: dict[str, str],
    *,
    lock: str = "PT5S",
    max_delivery: int = 10,
    data_dir: Path | None = None,
    port: int = 0,
) -> ServiceBusEmulator:
    """An emulator with the app's Service Bus queues (short locks, so a lost lock comes
    back within seconds)."""
    props = f"LockDuration={lock},MaxDeliveryCount={max_delivery}"
    queues = [s[k] for k in ("REL_SBQ", "REL_SLOW_SBQ", "REL_MIXED_SBQ", "REL_RELAY_SBQ")]
    args = [a for q in queues for a in ("--queue", f"{q}:{props}")]
    return ServiceBusEmulator(data_dir=data_dir, port=port, extra_args=args)


@pytest.fixture
def emulators() -> Iterator[Callable[..., ServiceBusEmulator]]:
    """Starts emulators for a test (see `emulator_for`) and stops them after it."""
    started: list[ServiceBusEmulator] = []

    def start(s: dict[str, str], **options: object) -> ServiceBusEmulator:
        emulator = emulator_for(s, **options)  # type: ignore[arg-type]
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def host_process(env: dict[str, str], *args: str) -> HostProcess:
    """`funchost start` for the reliability app as its own process (the repo root on
    PYTHONPATH for the `shared` library)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return HostProcess(APP, env={**env, "PYTHONPATH": path}, args=["--no-auth", *args])


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a scenario's figures; they are printed at the end of the run (with
    pytest-xdist too: user properties travel with the test's report)."""

    def record(title: str, **figures: object) -> None:
        line = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
        request.node.user_properties.append(("reliability", f"{title}: {line}"))

    return record
