"""Reading application settings from an injected mapping (os.environ by default).

Connection names are resolved the way the Functions host resolves a binding's `connection`:
`AzureWebJobs<name>` first, then `<name>`; an identity-based connection is a section of
settings `<name>__<key>` (for example `AzureWebJobsStorage__accountName`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import SettingError


@dataclass(frozen=True)
class Connection:
    """A resolved connection setting.

    Attributes
    ----------
    name:
        The setting name it was found under.
    value:
        The connection string, or None for an identity-based connection.
    section:
        For identity-based connections, the `<name>__<key>` settings with lower-cased keys.
    """

    name: str
    value: str | None = None
    section: Mapping[str, str] = field(default_factory=dict)


def resolve_connection(name: str, environ: Mapping[str, str] | None = None) -> Connection:
    """Find connection `name` as the Functions host would.

    Parameters
    ----------
    name:
        The connection name, e.g. ``"AzureWebJobsStorage"``, ``"Storage"`` or
        ``"ServiceBusConnection"``.
    environ:
        Settings to read; ``os.environ`` when None.

    Returns
    -------
    Connection
        The connection string, or the identity-based section.

    Raises
    ------
    SettingError
        If neither a value nor a section exists under any of the candidate names.
    """
    env = os.environ if environ is None else environ
    candidates = [name] if name.startswith("AzureWebJobs") else [f"AzureWebJobs{name}", name]
    for candidate in candidates:
        value = env.get(candidate)
        if value:
            return Connection(candidate, value=value)
    for candidate in candidates:
        prefix = f"{candidate}__".lower()
        section = {
            k[len(prefix) :].lower(): v
            for k, v in env.items()
            if k.lower().startswith(prefix) and v
        }
        if section:
            return Connection(candidate, section=section)
    raise SettingError(
        " or ".join(candidates),
        "not set (expected a connection string, or "
        f"{candidates[-1]}__<key> settings for an identity-based connection)",
    )


def setting(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The value of setting `name`, or `default`.

    Raises
    ------
    SettingError
        If the setting is unset and no default is given, or it is a Key Vault reference
        the platform could not resolve (it then holds the reference's own text, which
        would otherwise be used as the secret).
    """
    env = os.environ if environ is None else environ
    value = env.get(name) or default
    if value is None:
        raise SettingError(name, "not set")
    if value.startswith(KEY_VAULT_REFERENCE):
        raise SettingError(
            name,
            f"is the Key Vault reference {value!r}, unresolved: check that the secret exists "
            "and that the app's identity may read it (Key Vault Secrets User)",
        )
    return value


KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
