"""Connection-name resolution, as the WebJobs SDK does it (semantics §9).

A binding's `connection` X is looked up as `AzureWebJobsX`, then `X`; each as
`ConnectionStrings:X`, then the value `X`, then the section `X__*` (identity-based
connections: `X__serviceUri`, `X__queueServiceUri`, `X__fullyQualifiedNamespace`, ...).
An empty name means `Storage`, that is `AzureWebJobsStorage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from funchost.errors import BindingError

DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def development_storage(proxy: str = "http://127.0.0.1") -> str:
    """What `UseDevelopmentStorage=true` stands for: Azurite on its default ports."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={proxy}:10000/{DEV_ACCOUNT};QueueEndpoint={proxy}:10001/{DEV_ACCOUNT};"
        f"TableEndpoint={proxy}:10002/{DEV_ACCOUNT};"
    )


@dataclass(frozen=True)
class Connection:
    """A resolved connection: a connection string, or an identity-based section."""

    name: str  # the setting name it was found under
    value: str | None = None
    section: Mapping[str, str] = field(default_factory=dict)  # lower-cased sub-keys

    @property
    def is_identity(self) -> bool:
        return self.value is None

    def storage_connection_string(self) -> str:
        """The connection string, with `UseDevelopmentStorage=true` expanded."""
        assert self.value is not None
        parts = dict(_pairs(self.value))
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            return development_storage(parts.get("developmentstorageproxyuri", "http://127.0.0.1"))
        return self.value

    def storage_service_url(self, service: str) -> str:
        """`https://<account>.<service>.core.windows.net` or the configured service URI."""
        for key in (f"{service}serviceuri", "serviceuri" if service == "blob" else ""):
            if key and key in self.section:
                return self.section[key]
        account = self.section.get("accountname")
        if account:
            return f"https://{account}.{service}.core.windows.net"
        raise BindingError(
            f"connection '{self.name}' has no {service}ServiceUri, serviceUri "
            f"or accountName setting for the {service} service"
        )


def _pairs(value: str) -> list[tuple[str, str]]:
    out = []
    for part in value.split(";"):
        if "=" in part:
            key, _, val = part.partition("=")
            out.append((key.strip().lower(), val.strip()))
    return out


def resolve(name: str | None, environ: Mapping[str, str]) -> Connection | None:
    """Find connection `name` in `environ`; None when nothing is set under any candidate."""
    name = (name or "").strip() or "Storage"
    candidates = (
        [f"AzureWebJobs{name}", name] if not name.lower().startswith("azurewebjobs") else [name]
    )
    lowered = {k.lower(): v for k, v in environ.items()}
    for candidate in candidates:
        low = candidate.lower()
        for key in (f"connectionstrings:{low}", f"connectionstrings__{low}", low):
            value = lowered.get(key)
            if value:
                return Connection(candidate, value)
        prefix = low + "__"
        section = {k[len(prefix) :]: v for k, v in lowered.items() if k.startswith(prefix) and v}
        if section:
            return Connection(candidate, None, section)
    return None


def require(name: str | None, environ: Mapping[str, str], *, what: str) -> Connection:
    """Like `resolve`, but a missing connection is a BindingError naming `what` needs it."""
    conn = resolve(name, environ)
    if conn is None:
        shown = (name or "").strip() or "AzureWebJobsStorage"
        raise BindingError(
            f"{what}: connection '{shown}' is not set (looked for "
            f"AzureWebJobs{shown.removeprefix('AzureWebJobs')}, {shown}, "
            f"ConnectionStrings:{shown} and {shown}__* in the environment "
            f"and local.settings.json Values)"
        )
    return conn
