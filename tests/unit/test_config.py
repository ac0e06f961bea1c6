"""host.json defaults and overrides (functions-host-semantics.md §1)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from funchost.config.host_config import HostConfig
from funchost.errors import ConfigError


def write(tmp_path: Path, data: object | str) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    (tmp_path / "host.json").write_text(text)
    return tmp_path


def test_defaults_match_the_real_host_semantics_1_1(tmp_path: Path) -> None:
    c = HostConfig.load(write(tmp_path, {"version": "2.0"}), {}, processor_count=4)
    assert c.function_timeout == timedelta(minutes=30)
    assert c.http.route_prefix == "api"
    assert c.queues.batch_size == 16
    assert c.queues.max_dequeue_count == 5
    assert c.queues.new_batch_threshold == 32  # (16 / 2) * 4 processors
    assert c.queues.visibility_timeout == timedelta(0)
    assert c.queues.max_polling_interval == timedelta(minutes=1)
    assert c.queues.message_encoding == "base64"
    assert c.blobs.max_degree_of_parallelism == 32
    assert c.blobs.poison_blob_threshold == 5
    assert c.service_bus.max_concurrent_calls == 64
    assert c.service_bus.max_concurrent_sessions == 8
    assert c.service_bus.auto_complete_messages is True
    assert c.service_bus.max_auto_lock_renewal_duration == timedelta(minutes=5)
    assert c.singleton.listener_lock_period == timedelta(minutes=1)
    assert c.extension_bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"


def test_missing_host_json_means_defaults(tmp_path: Path) -> None:
    assert HostConfig.load(tmp_path, {}).queues.batch_size == 16


def test_development_polls_every_2s_unless_set(tmp_path: Path) -> None:
    dev = {"AZURE_FUNCTIONS_ENVIRONMENT": "Development"}
    assert HostConfig.load(tmp_path, dev).queues.max_polling_interval == timedelta(seconds=2)
    write(tmp_path, {"version": "2.0",
                     "extensions": {"queues": {"maxPollingInterval": "00:00:10"}}})
    assert HostConfig.load(tmp_path, dev).queues.max_polling_interval == timedelta(seconds=10)


def test_env_overrides_any_leaf_case_insensitively(tmp_path: Path) -> None:
    write(tmp_path, {"version": "2.0", "extensions": {"queues": {"batchSize": 8}}})
    env = {"AzureFunctionsJobHost__extensions__queues__BATCHSIZE": "4",
           "AzureFunctionsJobHost__extensions__http__routePrefix": "",
           "azurefunctionsjobhost__functionTimeout": "00:01:00"}
    c = HostConfig.load(tmp_path, env)
    assert c.queues.batch_size == 4
    assert c.http.route_prefix == ""
    assert c.function_timeout == timedelta(minutes=1)


def test_comments_are_allowed(tmp_path: Path) -> None:
    write(tmp_path, '{\n  // a comment\n  "version": "2.0", /* another */\n'
                    '  "functionTimeout": "00:10:00"\n}')
    assert HostConfig.load(tmp_path, {}).function_timeout == timedelta(minutes=10)


def test_trailing_commas_and_single_quotes_are_allowed_as_newtonsoft_reads_them(
    tmp_path: Path,
) -> None:
    # H Config/HostJsonFileConfigurationSource.cs parses host.json with JObject.Parse,
    # which accepts trailing commas, single-quoted strings and repeated keys (last wins).
    write(tmp_path, "{\n  'version': '2.0',\n  \"functions\": [\"a\", \"b\",],\n"
                    '  "functionTimeout": "00:01:00",\n  "functionTimeout": "00:10:00",\n}')
    config = HostConfig.load(tmp_path, {})
    assert config.functions == ("a", "b")
    assert config.function_timeout == timedelta(minutes=10)


def test_function_timeout_minus_one_is_unbounded(tmp_path: Path) -> None:
    assert HostConfig.load(write(tmp_path, {"version": "2.0", "functionTimeout": "-1"}),
                           {}).function_timeout is None


@pytest.mark.parametrize("data,message", [
    ({"version": "3.0"}, "'version' must be \"2.0\""),
    ({"functionTimeout": "00:01:00"}, "the required property 'version' is missing"),
    ({"version": "2.0", "extensions": {"queues": {"batchSize": 64}}},
     "extensions.queues.batchSize must be in the range 1-32, got 64"),
    ({"version": "2.0", "extensions": {"queues": {"batchSize": "lots"}}},
     "extensions.queues.batchSize must be an integer"),
    ({"version": "2.0", "extensions": {"queues": {"maxPollingInterval": "00:00:00.050"}}},
     "maxPollingInterval must be at least 00:00:00.100"),
    ({"version": "2.0", "extensions": {"queues": {"messageEncoding": "utf7"}}},
     "messageEncoding must be 'base64' or 'none'"),
    ({"version": "2.0", "functionTimeout": "soon"}, "functionTimeout must be a time span"),
    ({"version": "2.0", "extensions": {"serviceBus": {"autoCompleteMessages": "maybe"}}},
     "autoCompleteMessages must be true or false"),
    ({"version": "2.0", "retry": {"strategy": "sometimes", "maxRetryCount": 2}},
     "retry.strategy must be 'fixed_delay' or 'exponential_backoff'"),
])
def test_invalid_settings_name_the_file_and_setting(tmp_path: Path, data: object,
                                                    message: str) -> None:
    write(tmp_path, data)
    with pytest.raises(ConfigError, match="host.json") as err:
        HostConfig.load(tmp_path, {})
    assert message in str(err.value)


def test_invalid_env_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        HostConfig.load(tmp_path, {"AzureFunctionsJobHost__extensions__queues__batchSize": "0"})
    assert "environment variable AzureFunctionsJobHost__extensions__queues__batchSize" in str(err.value)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, '{\n  "version": "2.0",\n  "functionTimeout": \n}')
    with pytest.raises(ConfigError, match=r"host.json:4:1: invalid JSON"):
        HostConfig.load(tmp_path, {})


def test_host_level_retry(tmp_path: Path) -> None:
    write(tmp_path, {"version": "2.0", "retry": {"strategy": "fixedDelay", "maxRetryCount": 2,
                                                 "delayInterval": "00:00:03"}})
    retry = HostConfig.load(tmp_path, {}).retry
    assert retry is not None and retry.strategy == "fixed_delay"
    assert retry.max_retry_count == 2 and retry.delay_interval == timedelta(seconds=3)
