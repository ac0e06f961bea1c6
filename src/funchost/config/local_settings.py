"""local.settings.json, as `func start` reads it (functions-host-semantics.md §9).

`Values` become environment variables where the environment does not already set them
(existing variables win); `ConnectionStrings` become `ConnectionStrings:<name>`. Only the
CLI applies them to the process environment, before the app is imported.

`Host` holds `LocalHttpPort`, `CORS` and `CORSCredentials` as for `func start`, and two of
funchost's own for `funchost dev`: `AzuritePorts` (blob, queue and table ports: `"10010"`
for 10010-10012, `"10010,10011,10012"` or a list; 0 picks free ones) and `ServiceBusPort`
(the emulator's port), the same as the `--azurite-ports` and `--servicebus-port` options.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from funchost.config.jsonfile import read_json_object
from funchost.errors import ConfigError

FILE_NAME = "local.settings.json"


@dataclass(frozen=True)
class LocalSettings:
    values: Mapping[str, str] = field(default_factory=dict)
    connection_strings: Mapping[str, str] = field(default_factory=dict)
    http_port: int | None = None
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False
    path: Path | None = None
    azurite_ports: tuple[int, int, int] | None = None
    servicebus_port: int | None = None

    @classmethod
    def load(cls, app_dir: Path) -> LocalSettings:
        """Read `<app_dir>/local.settings.json`; a missing file gives empty settings."""
        path = app_dir / FILE_NAME
        if not path.exists():
            return cls()
        data = read_json_object(path)
        if data.get("IsEncrypted") is True:
            raise ConfigError(
                f"{path}: IsEncrypted is true; funchost reads only unencrypted "
                f"settings (run `func settings decrypt`)"
            )
        values = _string_map(path, data, "Values")
        conns = _string_map(path, data, "ConnectionStrings")
        host = data.get("Host") or {}
        if not isinstance(host, dict):
            raise ConfigError(f"{path}: Host must be an object, got {host!r}")
        port = _port(path, host, "LocalHttpPort")
        cors_raw = host.get("CORS") or ""
        cors = tuple(o.strip() for o in str(cors_raw).split(",") if o.strip())
        azurite = host.get("AzuritePorts")
        try:
            azurite_ports = None if azurite is None else parse_azurite_ports(azurite)
        except ValueError as exc:
            raise ConfigError(f"{path}: Host.AzuritePorts: {exc}") from None
        return cls(
            values,
            conns,
            port,
            cors,
            bool(host.get("CORSCredentials", False)),
            path,
            azurite_ports,
            _port(path, host, "ServiceBusPort"),
        )

    def apply(self, environ: MutableMapping[str, str]) -> None:
        """Fill in what `environ` lacks; never override an existing variable."""
        for name, value in self.values.items():
            environ.setdefault(name, value)
        for name, value in self.connection_strings.items():
            environ.setdefault(f"ConnectionStrings:{name}", value)


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535


def _port(path: Path, host: dict[str, object], key: str) -> int | None:
    value = host.get(key)
    if value is not None and not _is_port(value):
        raise ConfigError(f"{path}: Host.{key} must be a port number, got {value!r}")
    return value  # type: ignore[return-value]


def parse_azurite_ports(value: object) -> tuple[int, int, int]:
    """Azurite's blob, queue and table ports from `"10010"` (10010-10012),
    `"10010,10011,10012"`, a number or a list of three; 0 means "a free port" (every 0 is
    its own). ValueError names what is wrong."""
    items: list[object]
    if isinstance(value, str):
        items = [int(p) if p.strip().isdigit() else p for p in value.split(",")]
    elif isinstance(value, list):
        items = list(value)
    else:
        items = [value]
    if not all(_is_port(p) for p in items) or len(items) not in (1, 3):
        raise ValueError(
            f"expected one port (blob; queue and table follow) or three comma-separated "
            f"ports (blob,queue,table), got {value!r}"
        )
    ports = [int(p) for p in items]  # type: ignore[call-overload]
    if len(ports) == 1:
        base = ports[0]
        if base > 65533:
            raise ValueError(f"{base}: the queue and table ports would pass 65535")
        ports = [base, base + 1 if base else 0, base + 2 if base else 0]
    return ports[0], ports[1], ports[2]


def _string_map(path: Path, data: dict[str, object], key: str) -> dict[str, str]:
    raw = data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {key} must be an object of name/value strings")
    return {name: _setting_text(path, f"{key}.{name}", value) for name, value in raw.items()}


def _setting_text(path: Path, where: str, value: object) -> str:
    """A setting's value as the environment variable it becomes (JSON scalars allowed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {where} must be a string, got {value!r}")
    return value
