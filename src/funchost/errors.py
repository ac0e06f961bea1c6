"""The host's error tree. Startup problems are exceptions; user-code failures are data.

Every message names what is at fault: the file, the function, the setting, the value.
"""

from __future__ import annotations


class HostError(Exception):
    """Root of every error the host raises on purpose."""


class ConfigError(HostError):
    """host.json, local.settings.json or an app setting is invalid."""


class AppLoadError(HostError):
    """The app could not be imported, or has no single FunctionApp."""


class FunctionLoadError(HostError):
    """One function cannot be indexed; the others still load."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"function '{function}' cannot be loaded: {reason}")
        self.function = function
        self.reason = reason


class BindingError(HostError):
    """A binding is declared wrongly, or its resource cannot be used."""
