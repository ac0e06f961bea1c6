"""An identity that may only send messages (least privilege) still sends: creating the
queue first is refused (403) and that refusal is not an error. Azurite stands in for RBAC
with an account SAS that allows adding messages and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import (
    AccountSasPermissions,
    QueueServiceClient,
    ResourceTypes,
    generate_account_sas,
)

from shared.storage import DEV_ACCOUNT, DEV_KEY, StorageAccount
from shared.transport import StorageQueues

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _send_only(connection_string: str) -> str:
    endpoint = QueueServiceClient.from_connection_string(connection_string).url.rstrip("/")
    sas = generate_account_sas(
        DEV_ACCOUNT,
        DEV_KEY,
        ResourceTypes(object=True, container=True),
        AccountSasPermissions(add=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return f"QueueEndpoint={endpoint};SharedAccessSignature={sas}"


async def test_a_send_only_identity_sends_to_a_queue_it_may_not_create(
    account: StorageAccount, storage_connection_string: str, unique_name: str
) -> None:
    queue = await account.ensure_queue(unique_name)  # the infrastructure made it
    sender = StorageAccount.from_connection_string(_send_only(storage_connection_string))
    try:
        with pytest.raises(HttpResponseError) as refused:
            await sender.queue(unique_name).create_queue()
        assert refused.value.status_code == 403  # the premise: it may not create
        await StorageQueues(sender).send(unique_name, {"jobId": "j-1"})
    finally:
        await sender.close()
    (message,) = [m async for m in queue.receive_messages()]
    assert message.content  # arrived
