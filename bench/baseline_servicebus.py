"""The baseline: a bare azure-servicebus aio loop doing the host's work at the same
concurrency: peek-lock, up to CONCURRENCY messages in flight, each completed by one settling
task in turn (concurrent settlements poll the connection against each other and run at
about a fifth of the speed on the emulator), printing a timestamp per completed message as
the host logs a line per invocation."""

from __future__ import annotations

import asyncio
import sys
import time

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusClient


async def main(conn: str, queue: str, concurrency: int) -> None:
    async with (
        ServiceBusClient.from_connection_string(conn) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        slots = asyncio.Semaphore(concurrency)
        done: asyncio.Queue[ServiceBusReceivedMessage] = asyncio.Queue()

        async def settler() -> None:
            while True:
                message = await done.get()
                try:
                    await receiver.complete_message(message)
                    print(f"done {time.time():.6f}", flush=True)
                finally:
                    slots.release()

        settling = asyncio.create_task(settler())
        print("ready", flush=True)
        while not settling.done():
            await slots.acquire()
            free = 1 + slots._value  # how many more may start now
            messages = await receiver.receive_messages(max_message_count=free, max_wait_time=5)
            if not messages:
                slots.release()
                continue
            for _ in messages[1:]:
                await slots.acquire()
            for m in messages:
                done.put_nowait(m)  # the no-op "function", then settle


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
