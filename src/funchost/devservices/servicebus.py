"""The project's Service Bus emulator (`python -m sbemulator`) as a child process on a
free loopback port."""

from __future__ import annotations

import sys
from pathlib import Path

from funchost.devservices.process import ServiceProcess, ServiceStartError

READY_PATTERN = r"sbemulator listening on [^\s:]+:(\d+)"
CONNECTION_STRING_PATTERN = r"^(Endpoint=sb://\S+;UseDevelopmentEmulator=true;)\s*$"


class ServiceBusEmulator(ServiceProcess):
    """Runs `sys.executable -m sbemulator --port 0`.

    With `config=None` the emulator's built-in entities are used (queue.1, queue.2,
    session.queue.1, topic.1 with subscription.1 and subscription.2); with `data_dir=None`
    messages live in memory. `start()` returns the port; then `.port` and
    `.connection_string` are set.
    """

    def __init__(
        self,
        *,
        config: Path | None = None,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        auto_create: bool = False,
        extra_args: list[str] | None = None,
    ) -> None:
        argv = [sys.executable, "-m", "sbemulator", "--host", host, "--port", str(port)]
        if config is not None:
            argv += ["--config", str(config)]
        if data_dir is not None:
            argv += ["--data-dir", str(data_dir)]
        if auto_create:
            argv.append("--auto-create")
        argv += extra_args or []
        super().__init__("sbemulator", argv, [READY_PATTERN, CONNECTION_STRING_PATTERN])
        self.port: int | None = None
        self.connection_string: str | None = None

    def start(self, timeout: float = 30.0) -> list[str]:
        found = super().start(timeout)
        self.port = int(found[0])
        self.connection_string = found[1]
        return found


__all__ = ["ServiceBusEmulator", "ServiceStartError"]
