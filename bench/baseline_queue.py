"""The baseline: a bare azure-storage-queue aio loop doing the host's receive/delete work at
the same concurrency (batches of BATCH, next receive once at most THRESHOLD are in flight)."""

from __future__ import annotations

import asyncio
import sys

from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient


async def main(conn: str, name: str, batch: int, threshold: int) -> None:
    async with QueueClient.from_connection_string(conn, name) as q:
        in_flight = 0
        freed = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def settle(msg: QueueMessage) -> None:
            nonlocal in_flight
            try:
                await q.delete_message(msg)
            finally:
                in_flight -= 1
                freed.set()

        print("ready", flush=True)
        while True:
            while in_flight > threshold:
                freed.clear()
                await freed.wait()
            # One Get Messages call per poll, as the host makes.
            pages = q.receive_messages(
                max_messages=batch, messages_per_page=batch, visibility_timeout=600
            ).by_page()
            try:
                got = [m async for m in await pages.__anext__()]
            except StopAsyncIteration:
                got = []
            if not got:
                await asyncio.sleep(0.1)
                continue
            for m in got:
                in_flight += 1
                t = asyncio.create_task(settle(m))
                tasks.add(t)
                t.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
