"""Fixture app: Service Bus trigger and output behaviours."""

import asyncio
import json
import logging
import time
import typing

import azure.functions as func

app = func.FunctionApp()


@app.service_bus_queue_trigger(arg_name="msg", queue_name="sb-in", connection="ServiceBus")
@app.service_bus_queue_output(arg_name="reply", queue_name="sb-out", connection="ServiceBus")
@app.queue_output(arg_name="audit", queue_name="%AUDIT_QUEUE%", connection="AzureWebJobsStorage")
def sb_echo(msg: func.ServiceBusMessage, reply: func.Out[str], audit: func.Out[str]) -> None:
    body = msg.get_body().decode()
    logging.info(
        "META %s",
        json.dumps(
            {
                "body": body,
                "message_id": msg.message_id,
                "correlation_id": msg.correlation_id,
                "reply_to": msg.reply_to,
                "delivery_count": msg.delivery_count,
                "sequence_number": msg.sequence_number,
                "session_id": msg.session_id,
                "content_type": msg.content_type,
                "subject": msg.subject,
                "application_properties": msg.application_properties,
                "enqueued_time_utc": msg.enqueued_time_utc.isoformat()
                if msg.enqueued_time_utc
                else None,
                "locked_until": msg.locked_until.isoformat() if msg.locked_until else None,
                "lock_token": msg.lock_token,
                "time_to_live": msg.time_to_live.total_seconds() if msg.time_to_live else None,
                "metadata_keys": sorted(msg.metadata or {}),
            }
        ),
    )
    reply.set("echo:" + body)
    audit.set(json.dumps({"id": msg.message_id, "body": body}))


@app.service_bus_queue_trigger(arg_name="msg", queue_name="sb-fail", connection="ServiceBus")
def sb_fail(msg: func.ServiceBusMessage) -> None:
    logging.info("ATTEMPT %s %s", msg.get_body().decode(), msg.delivery_count)
    raise RuntimeError("failing on purpose")


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="sb-sessions", connection="ServiceBus", is_sessions_enabled=True
)
def sb_session(msg: func.ServiceBusMessage) -> None:
    time.sleep(0.05)
    logging.info("SESSION %s %s", msg.session_id, msg.get_body().decode())


@app.service_bus_queue_trigger(
    arg_name="msgs",
    queue_name="sb-batch",
    connection="ServiceBus",
    cardinality=func.Cardinality.MANY,
)
def sb_batch(msgs: typing.List[func.ServiceBusMessage]) -> None:
    logging.info("BATCH %d %s", len(msgs), json.dumps([m.get_body().decode() for m in msgs]))


@app.service_bus_queue_trigger(arg_name="msg", queue_name="sb-slow", connection="ServiceBus")
def sb_slow(msg: func.ServiceBusMessage) -> None:
    # Runs 1 s past the 5 s lock (Service Bus's shortest), which the emulator would then
    # redeliver and refuse to complete: only the host's renewal lets it complete.
    time.sleep(6)
    logging.info("SLOW DONE %s", msg.get_body().decode())


@app.service_bus_queue_trigger(arg_name="msg", queue_name="sb-overlap", connection="ServiceBus")
async def sb_overlap(msg: func.ServiceBusMessage) -> None:
    # Long enough for every slot of every receiver to fill while it runs.
    await asyncio.sleep(0.5)
    logging.info("OVERLAP %s", msg.get_body().decode())


@app.service_bus_topic_trigger(
    arg_name="msg", topic_name="sb-topic", subscription_name="s1", connection="ServiceBus"
)
def sb_topic(msg: func.ServiceBusMessage) -> None:
    logging.info("TOPIC %s", msg.get_body().decode())
