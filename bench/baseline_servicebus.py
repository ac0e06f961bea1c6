"""The baseline: a bare azure-servicebus aio receive loop doing the host's work at the same
concurrency (peek-lock, up to CONCURRENCY messages in flight, complete each), printing a
timestamp per completed message as the host logs one per invocation."""

from __future__ import annotations

import asyncio
import sys
import time

from azure.servicebus.aio import ServiceBusClient


async def main(conn: str, queue: str, concurrency: int) -> None:
    async with ServiceBusClient.from_connection_string(conn) as client, \
            client.get_queue_receiver(queue) as receiver:
        slots = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def settle(message: object) -> None:
            try:
                await receiver.complete_message(message)
                print(f"done {time.time():.6f}", flush=True)
            finally:
                slots.release()

        print("ready", flush=True)
        while True:
            await slots.acquire()
            free = 1 + slots._value  # noqa: SLF001 - how many more may start now
            messages = await receiver.receive_messages(max_message_count=free, max_wait_time=5)
            if not messages:
                slots.release()
                continue
            for _ in messages[1:]:
                await slots.acquire()
            for m in messages:
                t = asyncio.create_task(settle(m))
                tasks.add(t)
                t.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
