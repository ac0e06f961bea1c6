"""What the host writes to a queue for each kind of output value, against real Azurite
(semantics §7). The real host's chain, cited in funchost/bindings/fanout.py:

- the library encodes a `func.QueueMessage` as the JSON `{"id": ..., "body": ...}` (PL
  `queue.py` `QueueMessageOutConverter.encode`), which the worker sends as TypedData json
  (PW `bindings/datumdef.py` `datum_as_proto`);
- the host deserializes it into a JObject (H `GrpcMessageConversionExtensions.ToObject`) and
  binds the queue output as `IAsyncCollector<byte[]>` (W `AsyncCollectorBindingProvider`
  `GetDefaultType`: byte[] first, and N `QueuesExtensionConfigProvider` registers
  byte[] -> QueueMessage), so `FunctionBinding.BindAsyncCollectorAsync<byte[]>` writes
  `value.ToString()`: the envelope, as Newtonsoft's indented JSON;
- a string that looks like JSON is parsed (`ReadAsEnumerable`, `JToken.Parse`) and written
  back the same way (azure-functions-host#9581), or fails the invocation when it does not
  parse (azure-functions-host#9587).

The python worker's own end-to-end test `test_queue_message_object_return` expects the body
alone on the queue; no code on that path unwraps the envelope (the queue trigger hands the
worker the message text as it is), so these tests follow the code.
"""

from __future__ import annotations

import json
import uuid

import pytest

from funchost.testing import Harness
from funchost.testing.plugin import HostFactory
from tests.integration.queue_helpers import APPS, peek_all, queue, read_all

pytestmark = pytest.mark.integration

APP = APPS / "output_values"


@pytest.fixture
def host(funchost: HostFactory) -> Harness:
    return funchost.start(APP, settings={"Q_OUT": f"o{uuid.uuid4().hex[:12]}"})


def messages(host: Harness, conn: str, suffix: str, expect: int) -> list[str]:
    name = f"{host.environ['Q_OUT']}-{suffix}"
    return read_all(queue(conn, name), expect, timeout=10)


def envelope(body: str) -> str:
    return f'{{\n  "id": null,\n  "body": "{body}"\n}}'


def test_queue_message_returned_is_written_as_the_library_envelope_indented(
    host: Harness, storage_connection_string: str
) -> None:
    r = host.post("/api/message_return", content=b"test-message-object-return")
    assert r.status_code < 300, r.text
    got = messages(host, storage_connection_string, "ret", 1)
    assert got == [envelope("test-message-object-return")]
    assert json.loads(got[0]) == {"id": None, "body": "test-message-object-return"}


def test_queue_message_set_on_out_and_in_a_list(
    host: Harness, storage_connection_string: str
) -> None:
    assert host.post("/api/message_out", content=b"via out").status_code == 200
    assert messages(host, storage_connection_string, "out", 1) == [envelope("via out")]
    # A list fans out: a string element as is, a QueueMessage element as its envelope.
    assert host.post("/api/message_list").status_code == 200
    got = messages(host, storage_connection_string, "list", 2)
    assert sorted(got) == sorted(["plain", envelope("wrapped")])


def test_json_object_string_is_rewritten_indented_host_9581(
    host: Harness, storage_connection_string: str
) -> None:
    assert host.post("/api/json_text", content=b'{"a":1,"b":[true,null]}').status_code == 200
    assert host.post("/api/json_text", content=b"not json at all").status_code == 200
    assert host.post("/api/dict_text").status_code == 200
    got = messages(host, storage_connection_string, "json", 3)
    assert sorted(got) == sorted(
        [
            '{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}',
            "not json at all",
            # Non-ASCII as is, empty objects as {} (Newtonsoft's defaults).
            '{\n  "name": "Zoë",\n  "n": [\n    1,\n    2\n  ],\n  "nested": {}\n}',
        ]
    )


def test_string_that_only_looks_like_json_fails_the_invocation_host_9587(
    host: Harness, storage_connection_string: str
) -> None:
    lines = b'{"k": "a"}\n{"k": "b"}'  # JSON lines: braces at both ends, two documents
    assert host.post("/api/json_text", content=lines).status_code == 500
    (run,) = host.wait_for("json_text", ok=False)
    assert "looks like JSON but does not parse" in str(run.error), run.error
    # Nothing was sent (the invocation failed before its outputs were written).
    assert peek_all(queue(storage_connection_string, f"{host.environ['Q_OUT']}-json")) == []
