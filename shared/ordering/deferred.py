"""The index of deferred Service Bus messages: (ordering key, sequence) -> broker number.

Deferred messages can only be fetched back by the broker's sequence number, so each one is
recorded here, in the sequencer's table, in the partition of its key (rows
``<scope>~d~<zero-padded sequence>``, which sort numerically).
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError

from .._tables import int64, read_int, table_key
from .sequencer import Sequencer


class DeferredIndex:
    """Deferred messages per ordering key, stored beside the key's sequence row."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    async def remember(self, key: str, sequence: int, broker_number: int) -> None:
        """Record that message `sequence` of `key` is deferred under `broker_number`."""
        table = await self.sequencer.account.ensure_table(self.sequencer.table_name)
        await table.upsert_entity(
            {
                "PartitionKey": table_key(key, "ordering key"),
                "RowKey": self._row(sequence),
                "Key": key,
                "Sequence": int64(sequence),
                "BrokerSequence": int64(broker_number),
            }
        )

    async def find(self, key: str, sequence: int) -> int | None:
        """The broker sequence number of deferred message `sequence` of `key`, or None."""
        table = await self.sequencer.account.ensure_table(self.sequencer.table_name)
        try:
            row = await table.get_entity(table_key(key, "ordering key"), self._row(sequence))
        except ResourceNotFoundError:
            return None
        return read_int(row, "BrokerSequence")

    async def forget(self, key: str, sequence: int) -> None:
        """Drop the index entry of deferred message `sequence` of `key`."""
        table = await self.sequencer.account.ensure_table(self.sequencer.table_name)
        await table.delete_entity(table_key(key, "ordering key"), self._row(sequence))

    async def keys(self) -> list[str]:
        """Every key that has deferred messages indexed (a table scan; for sweeps)."""
        table = await self.sequencer.account.ensure_table(self.sequencer.table_name)
        prefix = f"{table_key(self.sequencer.scope)}~d~"
        rows = table.query_entities(
            "RowKey ge @lo and RowKey lt @hi",
            parameters={"lo": prefix, "hi": prefix + ":"},  # digits < ":"
            select=["Key"],
        )
        return sorted({row["Key"] async for row in rows})

    def _row(self, sequence: int) -> str:
        return f"{table_key(self.sequencer.scope)}~d~{sequence:020d}"
