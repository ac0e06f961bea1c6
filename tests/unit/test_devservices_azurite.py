from __future__ import annotations

from azure.storage.queue import QueueServiceClient

import pytest

from funchost.devservices.azurite import AzuriteEndpoints


def test_azurite_endpoints_connection_string_names_every_service() -> None:
    cs = AzuriteEndpoints("127.0.0.1", 1, 2, 3).connection_string
    assert "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;" in cs
    assert "QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;" in cs
    assert "TableEndpoint=http://127.0.0.1:3/devstoreaccount1;" in cs


@pytest.mark.integration
def test_azurite_fixture_serves_queues(storage_connection_string: str, unique_name: str) -> None:
    svc = QueueServiceClient.from_connection_string(storage_connection_string)
    q = svc.create_queue(unique_name)
    q.send_message("hello")
    assert [m.content for m in q.receive_messages()] == ["hello"]
