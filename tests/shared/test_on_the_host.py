"""The library's documented examples on the host, as a user runs them."""

from __future__ import annotations

import uuid

import pytest

from funchost.testing.plugin import HostFactory
from shared.idempotency import IdempotencyLedger
from shared.storage import StorageAccount
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

APP = REPO / "tests" / "apps" / "library_app"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_idempotent_queue_example_succeeds_and_records_its_result(
    funchost: HostFactory, storage_connection_string: str
) -> None:
    # It used to fail on the host ("returned a non-None value") after the key was recorded
    # done, and every redelivery replayed the failure into the poison queue.
    tag = uuid.uuid4().hex[:8]
    settings = {"LIB_LEDGER": f"Lib{tag}", "LIB_ORDERS": f"orders{tag}"}
    host = funchost.start(APP, settings=settings)
    host.send_queue(settings["LIB_ORDERS"], {"amount": 5})
    (run,) = host.wait_for("place_order")
    assert run.ok, run.error
    host.wait_idle()
    assert len(host.invocations("place_order")) == 1  # not redelivered, not poisoned
    ledger = IdempotencyLedger(
        StorageAccount.from_connection_string(storage_connection_string),
        table=settings["LIB_LEDGER"],
    )
    (message_line,) = [line for line in run.logs if line.startswith("Executing")]
    assert "New queue message" in message_line
    records = [r async for r in ledger.account.table(settings["LIB_LEDGER"]).list_entities()]
    assert [r["State"] for r in records] == ["Succeeded"]
    assert '"return":{"charged":5}' in records[0]["Result"]
    await ledger.account.close()
