"""Table input and output bindings (semantics §7; N `TablesExtensionConfigProvider.cs`,
`TableEntityWriter.cs`).

Input: always a JSON array, from the query `PartitionKey eq '<pk>'` [`and <filter>`], at
most `take` entities (none: all). A rowKey does not narrow it: for Python (and Node) the
real host binds table inputs as a JArray, whose builder ignores RowKey (N
`TablesExtensionConfigProvider.cs` `JObjectBuilder` for JArray; python-worker #1231 shows
the request Azurite gets, #1725 the same on Azure; the worker's own emulator test
`test_table_functions.py` reads a list). The filter is appended as written, not in
parentheses, as that builder does; a missing table fails the query (404).
Output: each JSON object is an entity; its PartitionKey/RowKey properties win over the
binding's; other properties must be scalars. Entities are *added* (insert only, as the real
host does): an existing key fails the invocation with 409 EntityAlreadyExists. Writes are
batched per partition, at most 100 to a transaction; the table is created when missing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError
from azure.functions.meta import Datum

from funchost.bindings.fanout import items
from funchost.core.expressions import resolve, resolve_settings
from funchost.core.invocation import Invocation
from funchost.core.services import HostServices
from funchost.core.spec import BindingInfo
from funchost.errors import BindingError

log = logging.getLogger("funchost.table")

MAX_BATCH = 100
SYSTEM_KEYS = {"partitionkey": "PartitionKey", "rowkey": "RowKey"}
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
IGNORED = {"timestamp", "etag", "odata.etag"}


@dataclass(frozen=True)
class TableBindingSpec:
    table: str
    partition_key: str | None
    row_key: str | None
    filter: str | None
    take: int | None
    connection: str | None

    @classmethod
    def from_binding(cls, binding: BindingInfo, environ: Any, what: str) -> TableBindingSpec:
        def setting(key: str) -> str | None:
            raw = binding.text(key)
            return None if raw is None else resolve_settings(raw, environ, what=what)

        table = setting("tableName")
        if not table:
            raise BindingError(f"{what}: tableName is required")
        take = binding.get("take")
        if take is not None:
            try:
                take = int(take)
            except (TypeError, ValueError):
                raise BindingError(f"{what}: take must be an integer, got {take!r}") from None
            if take < 1:
                take = None  # the host's builder limits only when Take > 0
        return cls(
            table,
            setting("partitionKey"),
            setting("rowKey"),
            setting("filter"),
            take,
            binding.text("connection"),
        )


class _TableBinding:
    def __init__(self, binding: BindingInfo, services: HostServices, kind: str) -> None:
        self._what = f"table {kind} '{binding.name}'"
        self.spec = TableBindingSpec.from_binding(binding, services.environ, self._what)
        self._service = services.clients.table_service(self.spec.connection, what=self._what)

    def _resolve(self, text: str | None, invocation: Invocation) -> str | None:
        return None if text is None else resolve(text, invocation.binding_data, what=self._what)

    def _table(self, invocation: Invocation) -> Any:
        name = self._resolve(self.spec.table, invocation) or ""
        if not TABLE_NAME.fullmatch(name):
            # Checked here, not only by the service: a value from a request or a message
            # must not turn into another request path.
            raise BindingError(f"{self._what}: '{name}' is not a valid table name")
        return self._service.get_table_client(name)

    def _key(self, which: str, value: str | None) -> str | None:
        """A PartitionKey or RowKey, refused when Azure Tables would refuse it (/, \\, #,
        ? and control characters)."""
        if value is not None and FORBIDDEN_IN_KEYS.search(value):
            raise BindingError(f"{self._what}: {which} {value!r} has a character keys cannot hold")
        return value


class TableInput(_TableBinding):
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        super().__init__(binding, services, "input")
        if self.spec.row_key is not None:
            log.warning(
                "%s: rowKey does not select one entity for Python functions; the input is "
                "the JSON array of the partition's entities, as on Azure "
                "(azure-functions-python-worker#1231)",
                self._what,
            )

    async def read(self, invocation: Invocation) -> Datum:
        table = self._table(invocation)
        pk = self._resolve(self.spec.partition_key, invocation)
        # Resolved like every binding property (an unknown {name} fails), then unused.
        self._resolve(self.spec.row_key, invocation)
        query = self._resolve(self.spec.filter, invocation) or ""
        if pk:
            predicate = f"PartitionKey eq '{pk.replace(chr(39), chr(39) * 2)}'"
            query = f"{predicate} and {query}" if query else predicate
        found: list[dict[str, Any]] = []
        try:
            pager = table.query_entities(query) if query else table.list_entities()
            async for entity in pager:
                found.append(entity_json(entity))
                if self.spec.take is not None and len(found) >= self.spec.take:
                    break
        except ResourceNotFoundError:
            # The host's query fails the same way: no empty array for a missing table.
            raise BindingError(
                f"{self._what}: table '{table.table_name}' does not exist (404 TableNotFound)"
            ) from None
        return Datum(json.dumps(found), "json")


class TableOutput(_TableBinding):
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        super().__init__(binding, services, "output")

    async def write(self, value: Datum, invocation: Invocation) -> None:
        table = self._table(invocation)
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items(value):
            entity = self._entity(item, invocation)
            by_partition[entity["PartitionKey"]].append(entity)
        for entities in by_partition.values():
            for start in range(0, len(entities), MAX_BATCH):
                await self._add(table, entities[start : start + MAX_BATCH])

    async def _add(self, table: Any, entities: list[dict[str, Any]]) -> None:
        for attempt in range(2):
            try:
                if len(entities) == 1:
                    await table.create_entity(entities[0])
                else:
                    await table.submit_transaction([("create", e) for e in entities])
                return
            except ResourceNotFoundError:
                if attempt:
                    raise
                with contextlib.suppress(ResourceExistsError):
                    await table.create_table()
            except ResourceExistsError:
                raise BindingError(_conflict(self._what, entities[0])) from None
            except TableTransactionError as exc:
                if exc.status_code == 409 or "EntityAlreadyExists" in str(
                    getattr(exc, "error_code", "")
                ):
                    raise BindingError(_conflict(self._what, entities[0])) from None
                if exc.status_code == 404 and not attempt:
                    with contextlib.suppress(ResourceExistsError):
                        await table.create_table()
                    continue
                raise

    def _entity(self, item: str | bytes, invocation: Invocation) -> dict[str, Any]:
        try:
            data = json.loads(item)
        except (TypeError, ValueError):
            raise BindingError(f"{self._what}: the value is not JSON: {str(item)[:80]!r}") from None
        if not isinstance(data, dict):
            raise BindingError(
                f"{self._what}: each entity must be a JSON object, got {type(data).__name__}"
            )
        entity: dict[str, Any] = {}
        for key, val in data.items():
            low = key.lower()
            if low in IGNORED:
                continue
            if isinstance(val, (dict, list)):
                raise BindingError(
                    f"{self._what}: property '{key}' must be a string, number "
                    f"or boolean, not a {type(val).__name__}"
                )
            entity[SYSTEM_KEYS.get(low) or str(key)] = val
        for key, spec_value in (
            ("PartitionKey", self.spec.partition_key),
            ("RowKey", self.spec.row_key),
        ):
            if key not in entity and spec_value is not None:
                entity[key] = self._resolve(spec_value, invocation)
            if entity.get(key) in (None, ""):
                raise BindingError(
                    f"{self._what}: {key} is required (set it in the entity or on the binding)"
                )
            entity[key] = self._key(key, str(entity[key]))
        return entity


def entity_json(entity: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PartitionKey": entity.get("PartitionKey"),
        "RowKey": entity.get("RowKey"),
    }
    stamp = getattr(entity, "metadata", {}).get("timestamp")
    if stamp is not None:
        out["Timestamp"] = stamp.isoformat()
    for key, value in entity.items():
        if key in out:
            continue
        out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if hasattr(value, "value"):  # EntityProperty (for example an Int64)
        return _plain(value.value)
    return value


def _conflict(what: str, entity: dict[str, Any]) -> str:
    return (
        f"{what}: 409 EntityAlreadyExists: an entity with PartitionKey "
        f"'{entity['PartitionKey']}' and RowKey '{entity['RowKey']}' exists; the table "
        f"output binding only inserts (semantics §7)"
    )
