"""Fixture app: the jobs library's documented examples, run on the host."""

import os

import azure.functions as func

from shared.idempotency import IdempotencyLedger, idempotent, message_id
from shared.storage import StorageAccount

app = func.FunctionApp()
ledger = IdempotencyLedger(StorageAccount.from_settings(), table=os.environ["LIB_LEDGER"])


# docs/jobs-library.md: a queue function returning a dict, no $return binding.
@app.queue_trigger(arg_name="msg", queue_name="%LIB_ORDERS%", connection="AzureWebJobsStorage")
@idempotent(ledger, key=message_id())
async def place_order(msg: func.QueueMessage) -> dict:
    return {"charged": msg.get_json()["amount"]}
