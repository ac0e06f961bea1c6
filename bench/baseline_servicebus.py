"""The baseline: the fastest plain azure-servicebus aio loop at the host's concurrency.
Receive up to CONCURRENCY messages, run the no-op function on all of them together,
then complete each in turn, printing a timestamp per completed message as the host logs
a line per invocation.

Completions go one after the other: issued together, they poll the connection against
each other and run at about a twentieth of the speed (measured on the emulator: ~155
against ~3,000 msg/s). A receive that comes back empty is retried at once (a short
max_wait_time), so the loop never sits idle while messages wait.

With SHARES "8,8,8,8", one such loop per share, each on its own connection: the split
funchost's listener makes of its concurrency (FUNCHOST_SERVICEBUS_RECEIVERS), to compare
like with like. Usage: baseline_servicebus.py CONNECTION QUEUE SHARES
"""

from __future__ import annotations

import asyncio
import sys
import time

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusClient

EMPTY_RECEIVE_WAIT = 0.2  # seconds; an empty receive returns after this and is retried


async def noop(message: ServiceBusReceivedMessage) -> None:
    """The function under test does nothing, as the benchmark app's."""


async def drain(client: ServiceBusClient, queue: str, concurrency: int) -> None:
    async with client.get_queue_receiver(queue) as receiver:
        while True:
            messages = await receiver.receive_messages(
                max_message_count=concurrency, max_wait_time=EMPTY_RECEIVE_WAIT
            )
            await asyncio.gather(*(noop(m) for m in messages))
            for m in messages:
                await receiver.complete_message(m)
                print(f"done {time.time():.6f}", flush=True)


async def main(conn: str, queue: str, shares: list[int]) -> None:
    """One loop per share of the concurrency, each on its own connection (one share is
    the plain loop)."""
    async with ServiceBusClient.from_connection_string(conn) as client:
        print("ready", flush=True)
        await asyncio.gather(*(drain(client, queue, share) for share in shares))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3].split(",")]))
