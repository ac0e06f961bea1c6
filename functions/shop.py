"""The order pipeline's effects on a small shop: stock, payments, shipments, notifications.

Every effect and its undo is idempotent on its own, keyed by the order's job id, because a
message can be delivered twice and a crash can come between an effect and its record:

- Stock (table ``ShopStock``): one partition per SKU holding its ``stock`` row and one
  ``hold-<job>`` row per order holding some of it. Reserving writes the hold and lowers
  the stock in one entity-group transaction (both or neither), conditional on the stock
  row's ETag; releasing deletes the hold and gives the quantity back the same way. A SKU
  seen for the first time starts with `SHOP_INITIAL_STOCK` units (default 100).
- Payments (table ``ShopPayments``): a row per order, Charged then Refunded.
- Shipments (container ``shipments``): a JSON blob per order; cancelling one marks it.
- Notifications (table ``ShopNotifications``): a row per order and customer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from shared.coordination import StepFailed
from shared.settings import setting

from .services import services

STOCK_TABLE = "ShopStock"
PAYMENTS_TABLE = "ShopPayments"
NOTIFICATIONS_TABLE = "ShopNotifications"
SHIPMENTS = "shipments"
_STOCK_ROW = "stock"
_TRIES = 20  # optimistic-concurrency retries on one SKU's stock (busy SKUs contend)


def order_lines(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Quantity per SKU (an order may name a SKU twice)."""
    lines: Counter[str] = Counter()
    for item in items:
        lines[str(item["sku"])] += int(item["qty"])
    return dict(sorted(lines.items()))


async def reserve(job_id: str, lines: Mapping[str, int]) -> dict[str, int]:
    """Hold `lines` for the order. A SKU short of stock releases what this order holds and
    fails the step for good (StepFailed): there is nothing to retry."""
    table = await services().account.ensure_table(STOCK_TABLE)
    for sku, qty in lines.items():
        left = await _move(table, sku, job_id, qty)
        if left is None:
            await release(job_id, lines)
            available = await stock_of(sku)
            raise StepFailed(f"out of stock: {sku} has {available}, the order needs {qty}")
    return dict(lines)


async def release(job_id: str, lines: Mapping[str, int]) -> dict[str, int]:
    """Give back what the order holds (nothing for a SKU it holds none of)."""
    table = await services().account.ensure_table(STOCK_TABLE)
    released = {}
    for sku in lines:
        qty = await _give_back(table, sku, job_id)
        if qty:
            released[sku] = qty
    return released


async def stock_of(sku: str) -> int:
    """Units of `sku` not held by any order."""
    table = await services().account.ensure_table(STOCK_TABLE)
    row, _ = await _stock_row(table, sku)
    return int(row["Available"])


async def charge(job_id: str, customer: str, amount: float) -> dict[str, Any]:
    """Record the payment (once per order)."""
    table = await services().account.ensure_table(PAYMENTS_TABLE)
    row = {"PartitionKey": customer, "RowKey": job_id, "Amount": amount, "State": "Charged"}
    with contextlib.suppress(ResourceExistsError):  # charged by an earlier delivery
        await table.create_entity(row)
    return {"charged": amount}


async def refund(job_id: str, customer: str) -> dict[str, Any]:
    """Mark the order's payment refunded (once)."""
    table = await services().account.ensure_table(PAYMENTS_TABLE)
    try:
        row = await table.get_entity(customer, job_id)
    except ResourceNotFoundError:
        return {"refunded": 0}
    if row["State"] != "Refunded":
        row["State"] = "Refunded"
        row["RefundedAt"] = datetime.now(timezone.utc)
        await table.update_entity(row, mode=UpdateMode.MERGE)
    return {"refunded": row["Amount"]}


async def payment_of(job_id: str, customer: str) -> dict[str, Any] | None:
    """The order's payment row, if any."""
    table = await services().account.ensure_table(PAYMENTS_TABLE)
    try:
        return dict(await table.get_entity(customer, job_id))
    except ResourceNotFoundError:
        return None


async def ship(job_id: str, customer: str, lines: Mapping[str, int]) -> dict[str, Any]:
    """Write the shipment (the same tracking number on every delivery of this step)."""
    tracking = "TRK" + hashlib.sha256(job_id.encode()).hexdigest()[:12].upper()
    await _write_shipment(
        job_id, {"customer": customer, "lines": dict(lines), "tracking": tracking}
    )
    return {"tracking": tracking}


async def cancel_shipment(job_id: str, shipped: Mapping[str, Any]) -> dict[str, Any]:
    """Mark the shipment cancelled (kept, for the record)."""
    await _write_shipment(job_id, {**shipped, "cancelled": True})
    return {"cancelled": shipped.get("tracking")}


async def shipment_of(job_id: str) -> dict[str, Any] | None:
    """The order's shipment blob, if any."""
    container = await services().account.ensure_container(SHIPMENTS)
    try:
        data = await (await container.download_blob(f"{job_id}.json")).readall()
    except ResourceNotFoundError:
        return None
    found: dict[str, Any] = json.loads(data)
    return found


async def notify(job_id: str, customer: str, text: str) -> dict[str, Any]:
    """Record the customer's notification (once per order)."""
    table = await services().account.ensure_table(NOTIFICATIONS_TABLE)
    await table.upsert_entity({"PartitionKey": customer, "RowKey": job_id, "Text": text})
    return {"notified": customer}


async def _write_shipment(job_id: str, body: Mapping[str, Any]) -> None:
    container = await services().account.ensure_container(SHIPMENTS)
    await container.upload_blob(f"{job_id}.json", json.dumps(body), overwrite=True)


async def _stock_row(table: TableClient, sku: str) -> tuple[dict[str, Any], str]:
    """The SKU's stock row and its ETag, created with the initial stock if missing."""
    try:
        row = await table.get_entity(sku, _STOCK_ROW)
    except ResourceNotFoundError:
        initial = int(setting("SHOP_INITIAL_STOCK", "100"))
        with contextlib.suppress(ResourceExistsError):  # another order created it first
            await table.create_entity(
                {"PartitionKey": sku, "RowKey": _STOCK_ROW, "Available": initial}
            )
        row = await table.get_entity(sku, _STOCK_ROW)
    return dict(row), str(row.metadata["etag"])


async def _move(table: TableClient, sku: str, job_id: str, qty: int) -> int | None:
    """Hold `qty` of `sku` for the order; the stock left, or None when there is too little.
    Holding twice is a no-op (the hold row exists)."""
    hold = f"hold-{job_id}"
    for _ in range(_TRIES):
        row, etag = await _stock_row(table, sku)
        if await _exists(table, sku, hold):
            return int(row["Available"])
        if int(row["Available"]) < qty:
            return None
        left = int(row["Available"]) - qty
        try:
            await table.submit_transaction(
                [
                    ("update", {**row, "Available": left}, _if(etag)),
                    ("create", {"PartitionKey": sku, "RowKey": hold, "Qty": qty}),
                ]
            )
            return left
        except (TableTransactionError, ResourceModifiedError, ResourceExistsError):
            await _pause()  # another order moved this SKU's stock first: read again
    raise RuntimeError(f"stock of {sku} still contended after {_TRIES} tries")


async def _give_back(table: TableClient, sku: str, job_id: str) -> int:
    hold = f"hold-{job_id}"
    for _ in range(_TRIES):
        try:
            held = await table.get_entity(sku, hold)
        except ResourceNotFoundError:
            return 0  # never held, or already released
        row, etag = await _stock_row(table, sku)
        qty = int(held["Qty"])
        try:
            await table.submit_transaction(
                [
                    ("update", {**row, "Available": int(row["Available"]) + qty}, _if(etag)),
                    (
                        "delete",
                        {"PartitionKey": sku, "RowKey": hold},
                        _if(str(held.metadata["etag"])),
                    ),
                ]
            )
            return qty
        except (TableTransactionError, ResourceModifiedError, ResourceNotFoundError):
            await _pause()
    raise RuntimeError(f"stock of {sku} still contended after {_TRIES} tries")


async def _exists(table: TableClient, pk: str, rk: str) -> bool:
    try:
        await table.get_entity(pk, rk)
    except ResourceNotFoundError:
        return False
    return True


def _if(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


async def _pause() -> None:
    await asyncio.sleep(random.uniform(0.01, 0.1))
