"""The host id, as the real host computes it when running outside App Service.

`{machine name, letters and digits only}-{abs(stable hash of the app path)}`, lower-case,
at most 32 characters, trailing '-' trimmed (H `Host/ScriptHostIdProvider.cs`; semantics
§4.7). `AzureFunctionsWebHost__hostid` overrides it. Keys, timer status blobs, blob
receipts and singleton locks all live under this id, so two apps sharing a storage account
share them only if their ids match.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

MAX_LENGTH = 32


def stable_hash(text: str) -> int:
    """The host's Utility.GetStableHash: 32-bit wrapping `h = h*31 + c` over UTF-16 units."""
    h = 23
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h = (h * 31 + int.from_bytes(data[i : i + 2], "little")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def default_host_id(machine_name: str, app_path: str) -> str:
    machine = "".join(c for c in machine_name if c.isalnum())
    host_id = f"{machine}-{abs(stable_hash(app_path))}"[:MAX_LENGTH]
    return host_id.lower().rstrip("-")


def host_id(environ: Mapping[str, str], app_path: str) -> str:
    for key, value in environ.items():
        if (
            key.lower() in ("azurefunctionswebhost__hostid", "azurefunctionswebhost:hostid")
            and value
        ):
            return value.lower()
    return default_host_id(socket.gethostname().split(".")[0], app_path)
