"""`order` end to end: submitted over HTTP, run step by step over Service Bus sessions,
compensated in reverse on a failure or a cancellation, with the shop's effects checked in
its tables and blobs."""

from __future__ import annotations

import pytest

from tests.app.conftest import JobsApp

pytestmark = pytest.mark.integration

STEPS = ["reserve", "charge", "ship", "notify"]


def order(customer: str, sku: str, qty: int = 2, **extra: object) -> dict[str, object]:
    return {"customer": customer, "items": [{"sku": sku, "qty": qty}], "amount": 19.9, **extra}


def effects(app: JobsApp, job_id: str, customer: str, sku: str) -> dict[str, object]:
    from functions import shop

    return {
        "stock": app.run(shop.stock_of, sku),
        "payment": (app.run(shop.payment_of, job_id, customer) or {}).get("State"),
        "shipment": app.run(shop.shipment_of, job_id),
    }


def test_an_order_goes_through_every_step_once(app: JobsApp, unique: str) -> None:
    customer, sku = f"c-{unique}", f"SKU-{unique}"
    job_id = app.start("order", order(customer, sku, qty=3))
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert final["result"]["steps"] == STEPS
    assert final["progress"] == {"done": 4, "total": 4}
    found = effects(app, job_id, customer, sku)
    assert found["stock"] == 100 - 3 and found["payment"] == "Charged"
    shipment = found["shipment"]
    assert isinstance(shipment, dict) and shipment["tracking"].startswith("TRK")
    assert "cancelled" not in shipment
    # Each step ran once for this order: no step was repeated.
    for step in STEPS:
        assert len(step_runs(app, step, job_id)) == 1, step


@pytest.mark.parametrize(
    ("fail_at", "undone"),
    [
        ("reserve", []),
        ("charge", ["reserve"]),
        ("ship", ["charge", "reserve"]),
        ("notify", ["ship", "charge", "reserve"]),
    ],
)
def test_a_failed_step_undoes_the_steps_before_it_in_reverse(
    app: JobsApp, unique: str, fail_at: str, undone: list[str]
) -> None:
    customer, sku = f"c-{unique}", f"SKU-{unique}"
    job_id = app.start("order", order(customer, sku, qty=5, fail_at=fail_at))
    final = app.wait(job_id)
    if not undone:  # nothing had completed: there is nothing to compensate
        assert final["status"] == "Failed" and "reserve failed" in final["error"]
    else:
        assert final["status"] == "Compensated", final
        assert final["result"]["compensated"] == undone
        assert f"{fail_at} failed" in final["result"]["reason"]
    found = effects(app, job_id, customer, sku)
    assert found["stock"] == 100  # every unit held was given back
    assert found["payment"] == ("Refunded" if "charge" in undone else None)
    if "ship" in undone:
        assert found["shipment"]["cancelled"] is True  # type: ignore[index]
    if "charge" in undone:
        assert final["result"]["undone"]["charge"] == {"refunded": 19.9}


def test_an_order_short_of_stock_fails_and_holds_nothing(app: JobsApp, unique: str) -> None:
    customer, sku, plenty = f"c-{unique}", f"SKU-{unique}", f"SKU-{unique}-b"
    body = {
        "customer": customer,
        "items": [{"sku": plenty, "qty": 1}, {"sku": sku, "qty": 101}],
        "amount": 5,
    }
    job_id = app.start("order", body)
    final = app.wait(job_id)
    assert final["status"] == "Failed"
    assert f"out of stock: {sku} has 100, the order needs 101" in final["error"]
    from functions import shop

    assert app.run(shop.stock_of, plenty) == 100  # its hold on the other SKU was released


def test_cancelling_a_running_order_compensates_what_it_did(app: JobsApp, unique: str) -> None:
    customer, sku = f"c-{unique}", f"SKU-{unique}"
    job_id = app.start("order", order(customer, sku))
    app.wait(job_id, lambda s: s["progress"]["done"] >= 1 or s["status"] != "Pending")
    response = app.host.request("DELETE", f"/api/jobs/{job_id}")
    if response.status_code == 409:  # it finished first on a fast machine: nothing to undo
        assert app.status(job_id)["status"] == "Succeeded"
        return
    assert response.status_code == 202
    final = app.wait(job_id)
    assert final["status"] in ("Compensated", "Cancelled"), final
    assert effects(app, job_id, customer, sku)["stock"] == 100


def test_one_customers_orders_keep_their_order_through_every_step(
    app: JobsApp, unique: str
) -> None:
    customer = f"c-{unique}"
    ids = [app.start("order", order(customer, f"SKU-{unique}-{i}", qty=1)) for i in range(4)]
    for job_id in ids:
        assert app.wait(job_id)["status"] == "Succeeded"
    # The session (the customer) gives every step its orders in the order the first step
    # took them: each step ran this customer's orders in the same sequence.
    sequences = {step: ordered_by_step(app, step, ids) for step in STEPS}
    assert sorted(sequences["reserve"]) == sorted(ids)
    for step in STEPS[1:]:
        assert sequences[step] == sequences["reserve"], sequences


def step_runs(app: JobsApp, step: str, job_id: str) -> list[object]:
    line = f"order {job_id}: do {step}"
    return [r for r in app.host.invocations(f"order_{step}") if line in r.logs]


def ordered_by_step(app: JobsApp, step: str, ids: list[str]) -> list[str]:
    """The job ids as `step` ran them (its invocations are recorded as they finish, and a
    session's messages run one at a time)."""
    seen = []
    for record in app.host.invocations(f"order_{step}"):
        seen += [i for i in ids if f"order {i}: do {step}" in record.logs]
    return seen
