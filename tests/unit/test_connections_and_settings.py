"""Connection-name resolution and local.settings.json (semantics §9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funchost.config.connections import require, resolve
from funchost.config.local_settings import LocalSettings
from funchost.errors import BindingError, ConfigError


def test_empty_name_means_azurewebjobsstorage() -> None:
    conn = resolve(None, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert conn is not None and conn.name == "AzureWebJobsStorage"
    assert "127.0.0.1:10001/devstoreaccount1" in conn.storage_connection_string()


def test_prefixed_name_wins_then_plain_then_section() -> None:
    env = {"AzureWebJobsMyConn": "a", "MyConn": "b"}
    assert resolve("MyConn", env).value == "a"  # type: ignore[union-attr]
    assert resolve("MyConn", {"MyConn": "b"}).value == "b"  # type: ignore[union-attr]
    assert resolve("MyConn", {"ConnectionStrings:MyConn": "c"}).value == "c"  # type: ignore[union-attr]
    conn = resolve("MyConn", {"MyConn__queueServiceUri": "https://acct.queue.core.windows.net"})
    assert conn is not None and conn.is_identity
    assert conn.storage_service_url("queue") == "https://acct.queue.core.windows.net"
    assert resolve("Sb", {"Sb__fullyQualifiedNamespace": "ns.servicebus.windows.net"}
                   ).section["fullyqualifiednamespace"] == "ns.servicebus.windows.net"  # type: ignore[union-attr]


def test_account_name_builds_service_urls() -> None:
    conn = resolve("X", {"X__accountName": "acct"})
    assert conn is not None
    assert conn.storage_service_url("blob") == "https://acct.blob.core.windows.net"


def test_missing_connection_error_names_what_was_looked_for() -> None:
    with pytest.raises(BindingError) as err:
        require("Orders", {}, what="queue trigger 'q'")
    assert "AzureWebJobsOrders" in str(err.value) and "queue trigger 'q'" in str(err.value)


def test_local_settings_fill_only_what_the_environment_lacks(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        "Values": {"A": "from-file", "B": "from-file", "N": 5, "T": True},
        "ConnectionStrings": {"Db": "server=x"},
        "Host": {"LocalHttpPort": 7072, "CORS": "http://a, http://b"},
    }))
    s = LocalSettings.load(tmp_path)
    env = {"A": "from-env"}
    s.apply(env)
    assert env["A"] == "from-env" and env["B"] == "from-file"
    assert env["N"] == "5" and env["T"] == "true"
    assert env["ConnectionStrings:Db"] == "server=x"
    assert s.http_port == 7072 and s.cors == ("http://a", "http://b")


@pytest.mark.parametrize("content,message", [
    ('{"Values": []}', "Values must be an object"),
    ('{"Values": {"A": {"x": 1}}}', "Values.A must be a string"),
    ('{"Host": {"LocalHttpPort": "abc"}}', "Host.LocalHttpPort must be a port number"),
    ('{"IsEncrypted": true}', "IsEncrypted is true"),
    ('{"Values": ', "invalid JSON"),
])
def test_bad_local_settings_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "local.settings.json").write_text(content)
    with pytest.raises(ConfigError, match="local.settings.json") as err:
        LocalSettings.load(tmp_path)
    assert message in str(err.value)
