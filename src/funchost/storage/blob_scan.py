"""The blob trigger's container scan and receipts (semantics §3.2, §3.3).

Every scan interval (10 s, as the real host) each watched container is listed; a blob is a
candidate when it changed since the previous sweep (cursor in
`azure-webjobs-hosts/blobscaninfo/{hostId}/{account}/{container}/scanInfo`; without one,
every existing blob is a candidate once). For each function whose path matches, a receipt
`azure-webjobs-hosts/blobreceipts/{hostId}/Host.Functions.<name>/{ETag}/{container}/{blob}`
says the blob version was handed on: created with metadata `Incomplete`, leased, a message
put on the host's blob queue, then marked complete. A receipt means "enqueued", not
"succeeded"; the queue's own retries and poison handling do the rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from funchost.storage.blobs import BlobPattern, ensure_container, quoted_etag

log = logging.getLogger("funchost.blob")

SCAN_BUDGET = 10_000  # blobs listed per container per sweep; the rest next sweep
RECEIPT_LEASE_SECONDS = 30


@dataclass(frozen=True)
class Watcher:
    """One blob-triggered function as the scanner sees it."""

    function: str
    pattern: BlobPattern
    container_client: Any  # the data account's container

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.function}"


Enqueue = Callable[[dict[str, str]], Awaitable[None]]


class ContainerScanner:
    """Scans one container for the functions watching it."""

    def __init__(
        self, watchers: Sequence[Watcher], hosts: Any, host_id: str, account: str, enqueue: Enqueue
    ) -> None:
        self._watchers = list(watchers)
        self._container = watchers[0].container_client
        self._name = watchers[0].pattern.container
        self._hosts = hosts  # the azure-webjobs-hosts container of the host's storage
        self._host_id = host_id
        self._enqueue = enqueue
        self._cursor_blob = hosts.get_blob_client(
            f"blobscaninfo/{host_id}/{account}/{self._name}/scanInfo"
        )
        self._continuation: str | None = None
        self._latest: datetime | None = None

    async def sweep(self) -> int:
        """One pass; returns how many blob versions were handed to the queue."""
        cursor = await self._read_cursor()
        latest = self._latest or cursor
        handed = 0
        pages = self._container.list_blobs().by_page(continuation_token=self._continuation)
        seen = 0
        try:
            async for page in pages:
                async for blob in page:
                    seen += 1
                    if cursor is not None and blob.last_modified < cursor:
                        continue
                    latest = (
                        blob.last_modified if latest is None else max(latest, blob.last_modified)
                    )
                    handed += await self._consider(blob)
                if seen >= SCAN_BUDGET:
                    break
        except ResourceNotFoundError:
            return 0  # the container does not exist (yet)
        self._continuation = pages.continuation_token if seen >= SCAN_BUDGET else None
        if self._continuation is None:
            self._latest = None
            if latest is not None and latest != cursor:
                await self._write_cursor(latest)
        else:
            self._latest = latest  # the sweep goes on next time; keep its high-water mark
        return handed

    async def _consider(self, blob: Any) -> int:
        handed = 0
        for watcher in self._watchers:
            if watcher.pattern.match(blob.name) is not None:
                handed += await self._hand_on(watcher, blob)
        return handed

    async def _hand_on(self, watcher: Watcher, blob: Any) -> int:
        etag = quoted_etag(blob.etag)
        receipt = self._hosts.get_blob_client(
            f"blobreceipts/{self._host_id}/{watcher.function_id}/{etag}/{self._name}/{blob.name}"
        )
        try:
            props = await receipt.get_blob_properties()
            if "Incomplete" not in (props.metadata or {}):
                return 0  # this version was handed on already
        except ResourceNotFoundError:
            try:
                await receipt.upload_blob(
                    b"", metadata={"Incomplete": "Incomplete"}, overwrite=False
                )
            except ResourceExistsError:
                pass  # another scanner is on it; the lease below decides
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise
        try:
            lease = await receipt.acquire_lease(lease_duration=RECEIPT_LEASE_SECONDS)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return 0  # leased: someone is handing it on right now
            raise
        try:
            props = await receipt.get_blob_properties()
            if "Incomplete" not in (props.metadata or {}):
                return 0
            await self._enqueue(
                {
                    "Type": "BlobTrigger",
                    "FunctionId": watcher.function_id,
                    "BlobType": "BlockBlob",
                    "ContainerName": self._name,
                    "BlobName": blob.name,
                    "ETag": etag,
                }
            )
            await receipt.set_blob_metadata({}, lease=lease)
        finally:
            with contextlib.suppress(HttpResponseError):
                await lease.release()
        return 1

    async def _read_cursor(self) -> datetime | None:
        try:
            data = await (await self._cursor_blob.download_blob()).readall()
        except ResourceNotFoundError:
            return None
        try:
            return datetime.fromisoformat(json.loads(data)["LatestScan"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring an unreadable scan cursor for container '%s'", self._name)
            return None

    async def _write_cursor(self, latest: datetime) -> None:
        text = json.dumps({"LatestScan": latest.isoformat()})
        try:
            await self._cursor_blob.upload_blob(text.encode(), overwrite=True)
        except ResourceNotFoundError:
            await ensure_container(self._hosts)
            await self._cursor_blob.upload_blob(text.encode(), overwrite=True)
