"""Azurite, the Azure Storage emulator from npm, on free loopback ports."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from funchost.config.connections import DEV_ACCOUNT, DEV_KEY
from funchost.devservices.process import ServiceProcess, ServiceStartError


@dataclass(frozen=True)
class AzuriteEndpoints:
    host: str
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        base = f"http://{self.host}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{DEV_ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{DEV_ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{DEV_ACCOUNT};"
        )


def find_azurite(*roots: Path) -> Path | None:
    """The azurite launcher in `<root>/node_modules/.bin` for the first root that has one,
    else the one on PATH."""
    for root in roots:
        candidate = root / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return candidate
    found = shutil.which("azurite")
    return Path(found) if found else None


class Azurite(ServiceProcess):
    """Azurite with blob, queue and table services.

    With `location=None` data lives in memory and is gone when it stops; otherwise it is
    kept under `location`. Ports of 0 pick free ones; `start()` returns the endpoints.
    """

    def __init__(
        self,
        executable: Path,
        *,
        location: Path | None = None,
        host: str = "127.0.0.1",
        blob_port: int = 0,
        queue_port: int = 0,
        table_port: int = 0,
    ) -> None:
        argv = [
            str(executable),
            "--disableTelemetry",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost",
            host,
            "--queueHost",
            host,
            "--tableHost",
            host,
            "--blobPort",
            str(blob_port),
            "--queuePort",
            str(queue_port),
            "--tablePort",
            str(table_port),
        ]
        if location is None:
            argv.append("--inMemoryPersistence")
        else:
            location.mkdir(parents=True, exist_ok=True)
            argv += ["--location", str(location)]
        ready = [
            rf"Azurite {svc} service is successfully listening at http://[^:]+:(\d+)"
            for svc in ("Blob", "Queue", "Table")
        ]
        super().__init__("azurite", argv, ready)
        self._host = host
        self.endpoints: AzuriteEndpoints | None = None

    def start(self, timeout: float = 60.0) -> list[str]:
        ports = super().start(timeout)
        blob, queue, table = (int(p) for p in ports)
        self.endpoints = AzuriteEndpoints(self._host, blob, queue, table)
        return ports


__all__ = [
    "DEV_ACCOUNT",
    "DEV_KEY",
    "Azurite",
    "AzuriteEndpoints",
    "ServiceStartError",
    "find_azurite",
]
