"""local.settings.json, as `func start` reads it (functions-host-semantics.md §9).

`Values` become environment variables where the environment does not already set them
(existing variables win); `ConnectionStrings` become `ConnectionStrings:<name>`. Only the
CLI applies them to the process environment, before the app is imported.
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
        port = host.get("LocalHttpPort")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            raise ConfigError(f"{path}: Host.LocalHttpPort must be a port number, got {port!r}")
        cors_raw = host.get("CORS") or ""
        cors = tuple(o.strip() for o in str(cors_raw).split(",") if o.strip())
        return cls(values, conns, port, cors, bool(host.get("CORSCredentials", False)), path)

    def apply(self, environ: MutableMapping[str, str]) -> None:
        """Fill in what `environ` lacks; never override an existing variable."""
        for name, value in self.values.items():
            environ.setdefault(name, value)
        for name, value in self.connection_strings.items():
            environ.setdefault(f"ConnectionStrings:{name}", value)


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
