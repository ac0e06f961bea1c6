"""Settings resolution (no I/O) and the decorators composing with a real FunctionApp."""

from __future__ import annotations

import inspect

import azure.functions as func
import pytest

from shared.errors import SettingError
from shared.idempotency import IdempotencyLedger, header, idempotent, message_id
from shared.locks import BlobLock, singleton
from shared.servicebus import ServiceBusNamespace
from shared.settings import resolve_connection
from shared.storage import DEV_ACCOUNT, StorageAccount, expand_development_storage


def test_connection_names_resolve_like_the_functions_host():
    env = {"AzureWebJobsJobs": "A", "Jobs": "B", "Other": "C"}
    assert resolve_connection("Jobs", env).value == "A"  # AzureWebJobs<name> wins
    assert resolve_connection("Other", env).value == "C"
    section = resolve_connection(
        "AzureWebJobsStorage", {"AzureWebJobsStorage__accountName": "acct"}
    )
    assert section.value is None and section.section == {"accountname": "acct"}
    with pytest.raises(SettingError, match="AzureWebJobsMissing or Missing"):
        resolve_connection("Missing", {})


def test_development_storage_is_expanded_to_azurite_defaults():
    expanded = expand_development_storage("UseDevelopmentStorage=true")
    assert f"AccountName={DEV_ACCOUNT}" in expanded
    assert "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1" in expanded
    proxied = expand_development_storage(
        "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite"
    )
    assert "QueueEndpoint=http://azurite:10001/" in proxied
    assert expand_development_storage("AccountName=x;AccountKey=y") == "AccountName=x;AccountKey=y"
    account = StorageAccount.from_settings(
        environ={"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert account.connection_string == expanded


def test_identity_based_connections_build_endpoints_without_io():
    acct = StorageAccount.from_settings(environ={"AzureWebJobsStorage__accountName": "prod"})
    assert repr(acct) == (
        "StorageAccount(https://prod.blob.core.windows.net, "
        "https://prod.queue.core.windows.net, "
        "https://prod.table.core.windows.net)"
    )
    custom = StorageAccount.from_settings(
        "Jobs", environ={"Jobs__tableServiceUri": "https://t.example/"}
    )
    assert "https://t.example/" in repr(custom)
    with pytest.raises(SettingError, match="accountName"):
        StorageAccount.from_settings(environ={"AzureWebJobsStorage__credential": "mi"})
    ns = ServiceBusNamespace.from_settings(
        environ={"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"}
    )
    assert ns.fully_qualified_namespace == "ns.servicebus.windows.net"
    with pytest.raises(SettingError, match="ServiceBusConnection"):
        ServiceBusNamespace.from_settings(environ={})


def test_decorated_functions_index_in_a_function_app():
    # What the Functions worker does at load: index the app and inspect each function.
    account = StorageAccount("UseDevelopmentStorage=true")  # no I/O until used
    ledger = IdempotencyLedger(account)
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    @idempotent(ledger, key=message_id())
    async def on_order(msg: func.QueueMessage) -> None: ...

    @app.route(route="orders", methods=["POST"])
    @idempotent(lambda: ledger, key=header())
    def create_order(req: func.HttpRequest) -> func.HttpResponse: ...

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
    @singleton(BlobLock(account, "sweep"))
    async def sweep(timer: func.TimerRequest) -> None: ...

    found = {f.get_function_name(): f for f in app.get_functions()}
    assert set(found) == {"on_order", "create_order", "sweep"}
    assert inspect.iscoroutinefunction(found["on_order"].get_user_function())
    assert not inspect.iscoroutinefunction(found["create_order"].get_user_function())
    assert list(inspect.signature(found["on_order"].get_user_function()).parameters) == ["msg"]
    assert list(inspect.signature(found["sweep"].get_user_function()).parameters) == ["timer"]


def test_an_unresolved_key_vault_reference_is_refused_not_used_as_the_secret():
    import pytest

    from shared.errors import SettingError
    from shared.settings import setting

    ref = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/callback)"
    with pytest.raises(SettingError) as info:
        setting("CALLBACK_SECRET", environ={"CALLBACK_SECRET": ref})
    assert "unresolved" in str(info.value) and "Key Vault Secrets User" in str(info.value)
    assert setting("CALLBACK_SECRET", environ={"CALLBACK_SECRET": "s3cret"}) == "s3cret"
