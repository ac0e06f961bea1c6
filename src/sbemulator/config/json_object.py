"""Reading one JSON object of a config file, with where it is for error messages."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .durations import INFINITE_SECONDS, parse_duration


class JsonObject:
    """A JSON object being read, with where it is, for error messages."""

    def __init__(self, data: Any, source: str, where: str, warnings: list[str]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: {where} must be a JSON object, found {type(data).__name__}"
            )
        self.source, self.where, self.warnings = source, where, warnings
        self._data = {str(k).lower(): v for k, v in data.items()}
        self._keys = {str(k).lower(): str(k) for k in data}

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where}: {key}: {problem}")

    def known(self, *keys: str) -> None:
        allowed = {k.lower() for k in keys}
        for low, original in self._keys.items():
            if low not in allowed:
                self.warnings.append(
                    f"{self.source}: {self.where}: unknown key {original!r} "
                    f"ignored (expected one of: {', '.join(keys)})"
                )

    def raw(self, key: str, required: bool = False) -> Any:
        value = self._data.get(key.lower())
        if value is None and required:
            raise self.error(key, "missing")
        return value

    def obj(self, key: str, required: bool = False) -> JsonObject:
        value = self.raw(key, required)
        return JsonObject(
            {} if value is None else value,
            self.source,
            f"{self.where}.{key}" if self.where != "top level" else key,
            self.warnings,
        )

    def array(self, key: str, required: bool = False) -> list[Any]:
        value = self.raw(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"must be a JSON array, found {type(value).__name__}")
        return value

    def string(self, key: str, required: bool = False) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, found {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.error(key, f"must be true or false, found {value!r}")

    def integer(self, key: str, default: int, minimum: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, found {value!r}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, found {value}")
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, f"must be a duration string like 'PT1M', found {value!r}")
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if seconds <= 0:
            raise self.error(key, f"must be longer than zero, found {value!r}")
        return None if seconds >= INFINITE_SECONDS else seconds

    def target(self, key: str) -> str | None:
        value = self.string(key)
        return value.strip() or None if value is not None else None

    def items(self) -> list[tuple[str, str, Any]]:
        """(lower-case key, key as written, value) for every entry."""
        return [(low, self._keys[low], value) for low, value in self._data.items()]
