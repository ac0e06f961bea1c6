"""Small helpers shared by the Table-backed stores: safe keys, clocks, typed property reads,
conditional deletes and the cursor rows of bounded purges."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, UpdateMode
from azure.data.tables.aio import TableClient

from .errors import InvalidArgument, PayloadTooLarge

Clock = Callable[[], datetime]

# Table keys may not contain / \ # ? or control characters and are limited to 1 KiB.
# Percent-encoding keeps ordinary keys readable in Storage Explorer; long ones are hashed
# (the "%h-" prefix cannot come out of percent-encoding, so the two never collide).
_SAFE = " !\"$&'()*+,-.:;<=>@[]^_`{|}~"
_MAX_KEY = 512


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the library's default clock)."""
    return datetime.now(timezone.utc)


def table_key(value: str, what: str = "key") -> str:
    """`value` made safe for a PartitionKey/RowKey, deterministically.

    Raises
    ------
    InvalidArgument
        If `value` is empty or not a string.
    """
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{what} must be a non-empty string, got {value!r}")
    escaped = quote(value, safe=_SAFE)
    if len(escaped) <= _MAX_KEY:
        return escaped
    return "%h-" + hashlib.sha256(value.encode()).hexdigest()


def int64(value: int) -> tuple[int, EdmType]:
    """An explicitly 64-bit integer property (sequence numbers may pass 2**31)."""
    return (value, EdmType.INT64)


def read_int(entity: Mapping[str, Any], name: str, default: int = 0) -> int:
    """An integer property, whether stored as Int32 or Int64 (EntityProperty)."""
    value = entity.get(name)
    if value is None:
        return default
    return int(getattr(value, "value", value))


def read_time(entity: Mapping[str, Any], name: str) -> datetime | None:
    """A datetime property as a plain aware datetime, or None."""
    value = entity.get(name)
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), timezone.utc)


def etag_of(entity: Any) -> str:
    """The ETag the SDK attached to a read entity."""
    return str(entity.metadata["etag"])


def dump_json(value: Any, what: str, limit: int) -> str:
    """`value` as compact JSON, checked against a size limit.

    Raises
    ------
    InvalidArgument
        If `value` is not JSON-serialisable.
    PayloadTooLarge
        If the JSON is longer than `limit` characters.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} is not JSON-serialisable: {exc}") from None
    if len(text) > limit:
        raise PayloadTooLarge(what, len(text), limit)
    return text


# --- bounded purges (retention) --------------------------------------------------------------

#: PartitionKey of the rows where a bounded purge keeps its cursor. `table_key` never makes
#: it: it writes "%" only in "%XX" hex escapes and the "%h-" prefix.
CURSOR_PARTITION = "%retention"


async def delete_if_unchanged(table: TableClient, row: Any) -> bool:
    """Delete `row` if it is unchanged since it was read (ETag); False if it changed (it
    is kept: someone wrote it meanwhile). A row already gone counts as deleted."""
    try:
        await table.delete_entity(
            row["PartitionKey"],
            row["RowKey"],
            etag=etag_of(row),
            match_condition=MatchConditions.IfNotModified,
        )
    except ResourceModifiedError:
        return False
    return True


async def read_cursor(table: TableClient, name: str) -> dict[str, Any]:
    """The cursor row `name` of a bounded purge (empty when there is none)."""
    try:
        return dict(await table.get_entity(CURSOR_PARTITION, name))
    except ResourceNotFoundError:
        return {}


async def write_cursor(table: TableClient, name: str, **values: str | None) -> None:
    """Replace the cursor row `name` (last writer wins: purges running at once on several
    instances only look at some rows twice)."""
    row = {k: v for k, v in values.items() if v is not None}
    await table.upsert_entity(
        {"PartitionKey": CURSOR_PARTITION, "RowKey": name, **row}, mode=UpdateMode.REPLACE
    )
