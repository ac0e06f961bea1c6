"""Benchmark app: no-op Service Bus functions, async (on the event loop, as the baseline
loop runs) and sync (in the worker thread pool)."""

import azure.functions as func

app = func.FunctionApp()


@app.service_bus_queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="ServiceBus")
async def noop(msg: func.ServiceBusMessage) -> None:
    pass


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%BENCH_SYNC_QUEUE%", connection="ServiceBus"
)
def noop_sync(msg: func.ServiceBusMessage) -> None:
    pass
