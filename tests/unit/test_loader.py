"""Indexing Python v2 apps (semantics §8), one function's failure never hiding the others."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from funchost.config.host_config import HostConfig
from funchost.config.hostid import default_host_id, stable_hash
from funchost.core.loader import is_disabled, load_app
from funchost.errors import AppLoadError


def app_dir(tmp_path: Path, source: str, name: str = "function_app.py") -> Path:
    (tmp_path / name).write_text(textwrap.dedent(source))
    # Each test imports a module of the same name from a different folder.
    sys.modules.pop(Path(name).stem, None)
    return tmp_path


def load(tmp_path: Path, env: dict[str, str] | None = None, only: list[str] | None = None):  # type: ignore[no-untyped-def]
    return load_app(HostConfig.load(tmp_path, env or {}), env or {}, only)


HEADER = """
    import azure.functions as func
    app = func.FunctionApp()
"""


def test_bindings_parameters_and_converters(tmp_path: Path) -> None:
    app = load(app_dir(tmp_path, HEADER + """
    @app.queue_trigger(arg_name="msg", queue_name="in", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="out", connection="AzureWebJobsStorage")
    def q(msg: func.QueueMessage, out: func.Out[str], context: func.Context) -> None:
        pass

    @app.route(route="r")
    async def h(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")
    """))
    assert not app.errors
    q, h = app.get("q"), app.get("h")
    assert q is not None and h is not None
    assert q.trigger.type == "queueTrigger" and q.trigger.get("queueName") == "in"
    assert [p.name for p in q.inputs] == ["msg"] and q.inputs[0].converter == "queueTrigger"
    assert [(p.name, p.converter) for p in q.outputs] == [("out", "generic")]
    assert q.needs_context and not q.is_async and q.returns is None
    assert h.is_async and h.returns is not None and h.returns.binding.type == "http"
    # The worker's function id (PW functions.py): uuid5(NAMESPACE_OID, name).
    assert h.function_id == str(uuid.uuid5(uuid.NAMESPACE_OID, "h"))


@pytest.mark.parametrize("body,reason", [
    ("""
    @app.route(route="r/{id}")
    def f(req: func.HttpRequest, id: str) -> func.HttpResponse: ...
    """, "these parameters have no binding: id"),
    ("""
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def f(message: func.QueueMessage) -> None: ...
    """, "no binding: message"),
    ("""
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="o", connection="AzureWebJobsStorage")
    def f(msg: func.QueueMessage, out: str) -> None: ...
    """, 'binding out has the "out" direction, but its annotation is not'),
    ("""
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def f(msg: func.HttpRequest) -> None: ...
    """, 'does not match its annotation "HttpRequest"'),
    ("""
    @app.route(route="r")
    def f(req: func.HttpRequest, context: int) -> func.HttpResponse: ...
    """, '"context" parameter is expected to be of type azure.functions.Context'),
])
def test_signature_errors_name_the_function_and_problem(tmp_path: Path, body: str,
                                                        reason: str) -> None:
    app = load(app_dir(tmp_path, HEADER + body + """
    @app.route(route="ok")
    def ok(req: func.HttpRequest) -> func.HttpResponse: ...
    """))
    assert [f.name for f in app.functions] == ["ok"]
    assert len(app.errors) == 1 and app.errors[0].function == "f"
    assert reason in app.errors[0].reason


def test_duplicate_function_names_are_reported(tmp_path: Path) -> None:
    app = load(app_dir(tmp_path, HEADER + """
    @app.function_name("same")
    @app.route(route="a")
    def a(req: func.HttpRequest) -> func.HttpResponse: ...

    @app.function_name("same")
    @app.route(route="b")
    def b(req: func.HttpRequest) -> func.HttpResponse: ...
    """))
    assert len(app.functions) == 1
    assert "same name" in app.errors[0].reason


def test_no_function_app_or_two_is_an_app_error(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match="found no FunctionApp"):
        load(app_dir(tmp_path, "x = 1\n"))
    sys.modules.pop("function_app", None)
    with pytest.raises(AppLoadError, match="found 2 FunctionApp"):
        load(app_dir(tmp_path, HEADER + "    app2 = func.FunctionApp()\n"))


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError) as err:
        load(app_dir(tmp_path, "import azure.functions as func\ndef broken(:\n"))
    assert f"{tmp_path / 'function_app.py'}:2: cannot import the app: SyntaxError" in str(err.value)


def test_script_file_name_setting(tmp_path: Path) -> None:
    app_dir(tmp_path, HEADER + """
    @app.route(route="r")
    def only(req: func.HttpRequest) -> func.HttpResponse: ...
    """, name="main_app.py")
    app = load(tmp_path, {"PYTHON_SCRIPT_FILE_NAME": "main_app.py"})
    assert [f.name for f in app.functions] == ["only"]


def test_disabled_setting_forms() -> None:
    assert is_disabled("Fn", {"AzureWebJobs.Fn.Disabled": "true"})
    assert is_disabled("fn", {"AzureWebJobs__Fn__Disabled": "1"})
    assert is_disabled("fn", {"AzureWebJobs_fn_Disabled": "True"})
    assert not is_disabled("fn", {"AzureWebJobs.fn.Disabled": "false"})


def test_functions_filter_from_host_json(tmp_path: Path) -> None:
    app_dir(tmp_path, HEADER + """
    @app.route(route="a")
    def a(req: func.HttpRequest) -> func.HttpResponse: ...

    @app.route(route="b")
    def b(req: func.HttpRequest) -> func.HttpResponse: ...
    """)
    (tmp_path / "host.json").write_text('{"version": "2.0", "functions": ["b"]}')
    assert [f.name for f in load(tmp_path).functions] == ["b"]
    assert [f.name for f in load(tmp_path, only=["a"]).functions] == ["a"]


def test_retry_policy_is_parsed(tmp_path: Path) -> None:
    app = load(app_dir(tmp_path, HEADER + """
    @app.timer_trigger(schedule="*/5 * * * * *", arg_name="t")
    @app.retry(strategy="exponential_backoff", max_retry_count="3",
               minimum_interval="00:00:01", maximum_interval="00:00:10")
    def t(t: func.TimerRequest) -> None: ...
    """))
    retry = app.functions[0].retry
    assert retry is not None and retry.strategy == "exponential_backoff"
    assert retry.max_retry_count == 3


def test_host_id_shape_semantics_4_7() -> None:
    # {machine letters/digits}-{abs(stable hash)}, lower-case, at most 32 characters.
    assert default_host_id("My-Machine.local", "/home/u/app").startswith("mymachinelocal-")
    long = default_host_id("X" * 40, "/p")
    assert len(long) == 32 and long == long.lower()
    # GetStableHash wraps at 32 bits like the C# unchecked int arithmetic.
    assert stable_hash("") == 23 and stable_hash("a") == 23 * 31 + 97
    assert -(2 ** 31) <= stable_hash("x" * 1000) < 2 ** 31
