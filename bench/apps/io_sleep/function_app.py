"""Benchmark app: I/O-bound functions (an async 20 ms wait, standing in for a call to
another service) on a storage queue and on a Service Bus queue, for bench/scale_out.py."""

import asyncio

import azure.functions as func

IO_SECONDS = 0.02

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_Q%", connection="AzureWebJobsStorage")
async def storage_io(msg: func.QueueMessage) -> None:
    await asyncio.sleep(IO_SECONDS)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="ServiceBus")
async def servicebus_io(msg: func.ServiceBusMessage) -> None:
    await asyncio.sleep(IO_SECONDS)
