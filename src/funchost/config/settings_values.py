"""Typed, case-insensitive reads of a JSON settings section, with errors that name the
file, the setting path and (when it came from one) the environment variable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from funchost.config.timespan import parse_timespan
from funchost.errors import ConfigError

_MISSING: Any = object()


def _norm(key: str) -> str:
    # host.json is case-insensitive; `@app.retry` settings use snake_case for the same names.
    return key.lower().replace("_", "")


@dataclass(frozen=True)
class SettingReader:
    source: str  # the file the section came from
    env_sources: Mapping[tuple[str, ...], str]  # lower-cased path -> env var that set it


@dataclass(frozen=True)
class Section:
    data: Mapping[str, Any]
    path: tuple[str, ...]
    reader: SettingReader

    def _key(self, key: str) -> str | None:
        wanted = _norm(key)
        return next((k for k in self.data if _norm(k) == wanted), None)

    def has(self, key: str) -> bool:
        return self._key(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        found = self._key(key)
        return default if found is None else self.data[found]

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.data.items())

    def section(self, *keys: str) -> Section:
        node: Section = self
        for key in keys:
            value = node.get(key, {})
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                node.fail(key, "must be an object", value)
            node = Section(value, (*node.path, key), self.reader)
        return node

    def fail(self, key: str, problem: str, value: Any) -> NoReturn:
        dotted = ".".join((*self.path, key))
        env = self.reader.env_sources.get(tuple(p.lower() for p in (*self.path, key)))
        where = f"environment variable {env}" if env else self.reader.source
        raise ConfigError(f"{where}: {dotted} {problem}, got {value!r}")

    def _given(self, key: str, default: Any) -> Any:
        """The raw value, or _MISSING when absent and there is a default; absent without a
        default (None) is an error."""
        raw = self.get(key, _MISSING)
        if raw is _MISSING and default is None:
            self.fail(key, "is required", None)
        return raw

    def integer(
        self, key: str, default: Any, *, minimum: int | None = None, maximum: int | None = None
    ) -> Any:
        raw = self._given(key, default)
        if raw is _MISSING:
            return default
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            self.fail(key, "must be an integer", raw)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "..." if minimum is None else minimum
            high = "..." if maximum is None else maximum
            bounds = f"{low}-{high}"
            self.fail(key, f"must be in the range {bounds}", raw)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.get(key, _MISSING)
        if raw is _MISSING:
            return default
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        return self.fail(key, "must be true or false", raw)

    def timespan(self, key: str, default: Any) -> Any:
        raw = self._given(key, default)
        if raw is _MISSING:
            return default
        try:
            return parse_timespan(raw)
        except ValueError as exc:
            self.fail(key, f"must be a time span like '00:01:00' ({exc})", raw)
