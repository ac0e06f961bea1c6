"""`order`: pipes and filters with a compensating transaction (a saga over Service Bus).

    {"customer": "c-42", "items": [{"sku": "SKU-1", "qty": 2}], "amount": 19.90,
     "fail_at": "ship"}                                  # fail_at: optional, for trying it

Four steps, each its own function on its own session-enabled Service Bus queue:
reserve stock → charge payment → ship → notify. The session is the customer, so one
customer's orders go through each step in the order they were placed, while different
customers' orders run in parallel. Each step runs once per order (the idempotency ledger)
and its effect is idempotent on its own (functions/shop.py). A step that fails for good
(out of stock, `fail_at`, or its last delivery) turns the order around: the steps done are
undone in reverse order (shipment cancelled, payment refunded, stock released), each once,
and the job ends `Compensated` with the compensations in its result. A cancellation seen
between steps does the same. The supervisor (functions/supervise.py) resends a stuck
order's step, then compensates it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import azure.functions as func

from shared.coordination import Saga, SagaMessage, Step, StepContext, StepFailed
from shared.deadletters import is_last_attempt

from . import shop
from .kind import Kind
from .services import MAX_DEQUEUE_COUNT, json_body, services

log = logging.getLogger(__name__)
bp = func.Blueprint()

SERVICE_BUS = "ServiceBusConnection"
STEPS = ("reserve", "charge", "ship", "notify")
QUEUES = {step: f"order-{step}" for step in STEPS}  # session-enabled (servicebus.config.json)
_KEY = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.:-]+$"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customer", "items", "amount"],
    "additionalProperties": False,
    "properties": {
        "customer": _KEY,
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "additionalProperties": False,
                "properties": {
                    "sku": _KEY,
                    "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            },
        },
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "fail_at": {"enum": list(STEPS)},
    },
}


def _fail_if_asked(ctx: StepContext, step: str) -> None:
    if ctx.input.get("fail_at") == step:
        raise StepFailed(f"{step} failed, as the order asked (fail_at)")


async def _reserve(ctx: StepContext) -> Any:
    _fail_if_asked(ctx, "reserve")
    return await shop.reserve(ctx.job.job_id, shop.order_lines(ctx.input["items"]))


async def _release(ctx: StepContext) -> Any:
    return {"released": await shop.release(ctx.job.job_id, shop.order_lines(ctx.input["items"]))}


async def _charge(ctx: StepContext) -> Any:
    _fail_if_asked(ctx, "charge")
    return await shop.charge(ctx.job.job_id, ctx.input["customer"], float(ctx.input["amount"]))


async def _refund(ctx: StepContext) -> Any:
    return await shop.refund(ctx.job.job_id, ctx.input["customer"])


async def _ship(ctx: StepContext) -> Any:
    _fail_if_asked(ctx, "ship")
    lines = shop.order_lines(ctx.input["items"])
    return await shop.ship(ctx.job.job_id, ctx.input["customer"], lines)


async def _cancel_shipment(ctx: StepContext) -> Any:
    return await shop.cancel_shipment(ctx.job.job_id, ctx.outputs["ship"])


async def _notify(ctx: StepContext) -> Any:
    _fail_if_asked(ctx, "notify")
    tracking = ctx.outputs["ship"]["tracking"]
    text = f"Your order {ctx.job.job_id} is on its way (tracking {tracking})."
    return await shop.notify(ctx.job.job_id, ctx.input["customer"], text)


@functools.cache
def saga() -> Saga:
    """The order saga (built on first use, with the app's settings)."""
    s = services()
    return Saga(
        "order",
        [
            Step("reserve", _reserve, compensate=_release, destination=QUEUES["reserve"]),
            Step("charge", _charge, compensate=_refund, destination=QUEUES["charge"]),
            Step("ship", _ship, compensate=_cancel_shipment, destination=QUEUES["ship"]),
            Step("notify", _notify, destination=QUEUES["notify"]),
        ],
        status=s.status,
        ledger=s.ledger,
        transport=s.bus,
        destination=QUEUES["reserve"],
        session_of=lambda job: str(job.input["customer"]),
    )


async def _handle(msg: func.ServiceBusMessage) -> None:
    body = json_body(msg.get_body())
    message = SagaMessage.from_body(body)
    step = STEPS[message.step] if 0 <= message.step < len(STEPS) else message.step
    log.info("order %s: %s %s", message.job_id, "undo" if message.undo else "do", step)
    await saga().handle(body, last_attempt=is_last_attempt(msg, MAX_DEQUEUE_COUNT))


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="order-reserve", connection=SERVICE_BUS, is_sessions_enabled=True
)
async def order_reserve(msg: func.ServiceBusMessage) -> None:
    await _handle(msg)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="order-charge", connection=SERVICE_BUS, is_sessions_enabled=True
)
async def order_charge(msg: func.ServiceBusMessage) -> None:
    await _handle(msg)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="order-ship", connection=SERVICE_BUS, is_sessions_enabled=True
)
async def order_ship(msg: func.ServiceBusMessage) -> None:
    await _handle(msg)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="order-notify", connection=SERVICE_BUS, is_sessions_enabled=True
)
async def order_notify(msg: func.ServiceBusMessage) -> None:
    await _handle(msg)


async def _resume(job_id: str) -> None:
    await saga().resume(job_id)


async def _give_up(job_id: str) -> None:
    await saga().abort(job_id, "stuck: the supervisor gave up on it")


KIND = Kind(
    "order",
    "Reserve stock, charge, ship and notify; compensated in reverse on a failure",
    SCHEMA,
    run=lambda job: saga().start(job),
    retry=_resume,
    give_up=_give_up,
)
