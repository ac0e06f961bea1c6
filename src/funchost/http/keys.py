"""Function keys, stored where and how the real host stores them (semantics §6.3, §6.4).

Blob storage (the default when AzureWebJobsStorage is set): container
`azure-webjobs-secrets`, blobs `{hostId}/host.json` and `{hostId}/{function}.json`, in the
host's JSON shape (`masterKey`, `functionKeys`, `systemKeys`; `keys`). With
`AzureWebJobsSecretStorageType=files` (or no storage at all) the same files live in a
folder. Keys written there beforehand are used as they are; missing ones are created.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from funchost.config.connections import resolve
from funchost.core.clients import ClientCache

log = logging.getLogger("funchost.keys")

CONTAINER = "azure-webjobs-secrets"
CACHE_SECONDS = 30.0


class Level(IntEnum):
    """AuthorizationLevel, ordered as the host orders it."""

    ANONYMOUS = 0
    FUNCTION = 2
    SYSTEM = 3
    ADMIN = 4

    @classmethod
    def parse(cls, text: str | None) -> Level:
        name = (text or "function").strip().upper()
        if name not in cls.__members__:
            raise ValueError(f"unknown auth level '{text}' (anonymous, function, admin)")
        return cls[name]


@dataclass(frozen=True)
class Key:
    name: str
    value: str


@dataclass(frozen=True)
class HostKeys:
    master: Key
    function_keys: tuple[Key, ...]
    system_keys: tuple[Key, ...]


def new_key_value() -> str:
    # The host generates 40 random bytes as URL-safe base64 with padding kept.
    return base64.urlsafe_b64encode(secrets.token_bytes(40)).decode("ascii")


class SecretStore(Protocol):
    """Where the JSON documents live; `name` is "host" or a lower-cased function name."""

    async def read(self, name: str) -> str | None: ...

    async def write(self, name: str, text: str) -> None: ...

    def describe(self, name: str) -> str: ...


class BlobSecretStore:
    def __init__(self, blob_service: Any, host_id: str) -> None:
        self._container = blob_service.get_container_client(CONTAINER)
        self._prefix = host_id.lower()
        self._created = False

    def describe(self, name: str) -> str:
        return f"blob {CONTAINER}/{self._prefix}/{name}.json"

    async def read(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stream = await self._container.download_blob(f"{self._prefix}/{name}.json")
            data: bytes = await stream.readall()
            return data.decode("utf-8-sig")
        except ResourceNotFoundError:
            return None

    async def write(self, name: str, text: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                await self._container.create_container()
            self._created = True
        await self._container.upload_blob(
            f"{self._prefix}/{name}.json", text.encode(), overwrite=True
        )


class FileSecretStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def describe(self, name: str) -> str:
        return str(self._folder / f"{name}.json")

    async def read(self, name: str) -> str | None:
        path = self._folder / f"{name}.json"
        return path.read_text("utf-8-sig") if path.exists() else None

    async def write(self, name: str, text: str) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, "utf-8")
        tmp.replace(path)


def open_key_manager(
    app_dir: Path, environ: Mapping[str, str], clients: ClientCache, host_id: str, instance_id: str
) -> KeyManager:
    """Blob storage when AzureWebJobsStorage is set (H `DefaultSecretManagerProvider.cs`),
    files with `AzureWebJobsSecretStorageType=files` or when there is no storage."""
    kind = environ.get("AzureWebJobsSecretStorageType", "").lower()
    store: SecretStore
    if kind != "files" and resolve("AzureWebJobsStorage", environ) is not None:
        store = BlobSecretStore(
            clients.blob_service("AzureWebJobsStorage", what="function keys"), host_id
        )
    else:
        folder = environ.get("AzureWebJobsSecretStoragePath") or str(
            app_dir / ".funchost" / "secrets"
        )
        store = FileSecretStore(Path(folder))
    return KeyManager(store, instance_id)


def _key_json(key: Key) -> dict[str, Any]:
    return {"name": key.name, "value": key.value, "encrypted": False}


def _envelope(instance_id: str) -> dict[str, Any]:
    return {
        "hostName": "localhost",
        "instanceId": instance_id,
        "source": "runtime",
        "decryptionKeyId": "",
    }


class KeyManager:
    """Reads, creates and caches keys; answers the authorization level of a presented key."""

    def __init__(self, store: SecretStore, instance_id: str) -> None:
        self._store = store
        self._instance_id = instance_id
        self._host: tuple[float, HostKeys] | None = None
        self._functions: dict[str, tuple[float, tuple[Key, ...]]] = {}

    async def host_keys(self) -> HostKeys:
        cached = self._host
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        keys = await self._load_host()
        self._host = (time.monotonic(), keys)
        return keys

    async def function_keys(self, function: str) -> tuple[Key, ...]:
        name = function.lower()
        cached = self._functions.get(name)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        keys = await self._load_function(name)
        self._functions[name] = (time.monotonic(), keys)
        return keys

    async def ensure(self, functions: Iterable[str]) -> None:
        """Create what is missing now, so `funchost keys` and first requests find them."""
        await self.host_keys()
        for name in functions:
            await self.function_keys(name)

    async def level_of(self, presented: str | None, function: str | None) -> Level:
        """The level a key grants (master > system > host function key > function key)."""
        if not presented:
            return Level.ANONYMOUS
        host = await self.host_keys()
        if _equal(presented, host.master.value):
            return Level.ADMIN
        if any(_equal(presented, k.value) for k in host.system_keys):
            return Level.SYSTEM
        if any(_equal(presented, k.value) for k in host.function_keys):
            return Level.FUNCTION
        if function and any(_equal(presented, k.value) for k in await self.function_keys(function)):
            return Level.FUNCTION
        return Level.ANONYMOUS

    async def _load_host(self) -> HostKeys:
        text = await self._store.read("host")
        if text is not None:
            data = self._parse(text, "host")
            master = _keys(data.get("masterKey"), self._store.describe("host"))
            if master:
                return HostKeys(
                    master[0],
                    tuple(_keys(data.get("functionKeys"), self._store.describe("host"))),
                    tuple(_keys(data.get("systemKeys"), self._store.describe("host"))),
                )
        keys = HostKeys(Key("master", new_key_value()), (Key("default", new_key_value()),), ())
        doc = {
            "masterKey": _key_json(keys.master),
            "functionKeys": [_key_json(k) for k in keys.function_keys],
            "systemKeys": [],
            **_envelope(self._instance_id),
        }
        await self._store.write("host", json.dumps(doc, indent=2))
        log.info("Created host keys in %s", self._store.describe("host"))
        return keys

    async def _load_function(self, name: str) -> tuple[Key, ...]:
        text = await self._store.read(name)
        if text is not None:
            keys = _keys(self._parse(text, name).get("keys"), self._store.describe(name))
            if keys:
                return tuple(keys)
        keys = [Key("default", new_key_value())]
        doc = {"keys": [_key_json(k) for k in keys], **_envelope(self._instance_id)}
        await self._store.write(name, json.dumps(doc, indent=2))
        return tuple(keys)

    def _parse(self, text: str, name: str) -> Mapping[str, Any]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            log.error(
                "Ignoring %s: invalid JSON (%s); new keys will be written",
                self._store.describe(name),
                exc,
            )
            return {}
        return data if isinstance(data, dict) else {}


def _keys(raw: Any, where: str) -> list[Key]:
    items = [raw] if isinstance(raw, dict) else (raw or [])
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("value"):
            continue
        if item.get("encrypted"):
            # Encrypted with the App Service machine key: not readable outside Azure.
            log.warning("Ignoring encrypted key '%s' in %s", item.get("name"), where)
            continue
        out.append(Key(str(item.get("name") or "default"), str(item["value"])))
    return out


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
