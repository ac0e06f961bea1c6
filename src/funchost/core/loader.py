"""Importing a Python v2 app and indexing its functions (semantics §8).

Like the worker: import `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`) from the app
directory, find exactly one `FunctionRegister`, and index each function. Unlike the worker,
one function that cannot be indexed does not hide the others: it is reported with its name
and the reason, and the rest load (the "0 functions found" complaint, semantics §10.1). A
function that uses a service funchost does not run (Durable Functions, Event Hubs, ...) is
reported with a one-line reason (`funchost.core.unsupported`).

An app that cannot be imported or indexed at all: `load_app` raises; `app_without_functions`
gives the app without functions that carries the error, as the real host stays up with no
functions when the worker fails to index (H `GrpcWorkerChannel.cs`
`ProcessFunctionMetadataResponses`: "Worker failed to index functions" is logged, the host
runs on).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

from funchost.config.host_config import HostConfig, RetryOptions, parse_retry
from funchost.config.settings_values import Section, SettingReader
from funchost.core.signature import bind_signature
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.core.unsupported import UnsupportedFunction, unsupported_reason
from funchost.errors import AppLoadError, ConfigError, FunctionLoadError, HostError

log = logging.getLogger("funchost.loader")

# The app folder, as the real host tells its Python worker (H `Workers/WorkerConstants.cs`,
# set in `Workers/Rpc/RpcWorkerProcess.cs` `CreateWorkerProcess`); whoever imports the app
# for a host sets it.
APP_DIRECTORY_SETTING = "FUNCTIONS_APPLICATION_DIRECTORY"


@dataclass(frozen=True)
class LoadedApp:
    """The indexed app. `error` is set when the app itself could not be imported or
    indexed (then there are no functions): the file, line and error."""

    script: Path
    functions: tuple[FunctionSpec, ...]
    errors: tuple[FunctionLoadError, ...]
    error: str | None = None
    instance: Any = None  # the app's FunctionApp, for what outlives one invocation (lifespan)

    def get(self, name: str) -> FunctionSpec | None:
        low = name.lower()
        return next((f for f in self.functions if f.name.lower() == low), None)


def load_app(
    config: HostConfig, environ: Mapping[str, str], only: Iterable[str] | None = None
) -> LoadedApp:
    """Import the app and index its functions.

    Parameters:
        only: function names to keep (`--functions`); host.json `functions` also filters.

    Raises:
        AppLoadError: the script is missing, cannot be imported (the message has the file,
            line and error), or has no single FunctionApp.
    """
    script = config.app_dir / environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
    module = _import(script, config.app_dir)
    app = _find_register(module, script)
    wanted = _wanted(only, config.functions)
    specs: list[FunctionSpec] = []
    errors: list[FunctionLoadError] = []
    seen: set[str] = set()
    for builder in list(getattr(app, "_function_builders", [])):
        name = _builder_name(builder)
        if wanted is not None and name.lower() not in wanted:
            continue
        try:
            if name.lower() in seen:
                raise FunctionLoadError(
                    name,
                    "another function has the same name; function "
                    "names must be unique (@app.function_name)",
                )
            seen.add(name.lower())
            specs.append(_index(builder.build(app.auth_level), script, config, environ))
        except FunctionLoadError as exc:
            errors.append(exc)
        except (ValueError, TypeError, HostError) as exc:
            errors.append(FunctionLoadError(name, str(exc)))
    if wanted is not None:
        for name in sorted(
            wanted - {s.name.lower() for s in specs} - {e.function.lower() for e in errors}
        ):
            log.warning("The function '%s' named in --functions/host.json was not found", name)
    return LoadedApp(script, tuple(specs), tuple(errors), instance=app)


def app_without_functions(
    config: HostConfig, environ: Mapping[str, str], error: AppLoadError
) -> LoadedApp:
    """The app that could not be imported or indexed (logged here): no functions, the error
    kept for `/admin/host/status`."""
    log.error("The app could not be loaded; no function will run: %s", error)
    script = config.app_dir / environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
    return LoadedApp(script, (), (), error=str(error))


def _wanted(only: Iterable[str] | None, from_config: tuple[str, ...] | None) -> set[str] | None:
    names = list(only or []) or list(from_config or [])
    return {n.strip().lower() for n in names if n.strip()} or None


def _import(script: Path, app_dir: Path) -> Any:
    if not script.is_file():
        raise AppLoadError(
            f"{script}: the app script does not exist (set "
            f"PYTHON_SCRIPT_FILE_NAME for another file name)"
        )
    # The worker puts the app root first on sys.path, so `functions/` and `shared/` import.
    root = str(app_dir)
    if root not in sys.path:
        sys.path.insert(0, root)
    name = script.stem
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise AppLoadError(_describe_import_error(exc, app_dir)) from exc
    return module


def _describe_import_error(exc: BaseException, app_dir: Path) -> str:
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}"
        return f"{where}: cannot import the app: SyntaxError: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    # The innermost frame inside the app is where the user should look.
    inside = [f for f in frames if _is_under(f.filename, app_dir)] or frames
    where = f"{inside[-1].filename}:{inside[-1].lineno}" if inside else "?"
    return f"{where}: cannot import the app: {type(exc).__name__}: {exc}"


def _is_under(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root)
        return ".venv" not in Path(path).parts and "site-packages" not in path
    except ValueError:
        return False


def _find_register(module: Any, script: Path) -> func.FunctionRegister:
    found = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise AppLoadError(
            f"{script}: found {what} FunctionApp instances at module level; "
            f"exactly one is required (register blueprints with "
            f"app.register_functions(bp))"
        )
    return found[0]


def _builder_name(builder: Any) -> str:
    try:
        return str(builder._function.get_function_name())
    except Exception:  # noqa: BLE001 - only used to label an error
        return getattr(getattr(builder, "_function", None), "_name", "<unknown>")


def _index(
    fn: Function, script: Path, config: HostConfig, environ: Mapping[str, str]
) -> FunctionSpec:
    name = str(fn.get_function_name())  # the library types it Optional; built, it is set
    function_json = json.loads(fn.get_function_json())
    bindings = tuple(_binding(raw) for raw in function_json.get("bindings", []))
    triggers = [b for b in bindings if b.is_trigger and b.direction == "in"]
    if len(triggers) != 1:
        raise FunctionLoadError(name, f"expected exactly one trigger, found {len(triggers)}")
    unsupported = unsupported_reason(
        triggers[0].type, [b.type for b in bindings if b is not triggers[0]]
    )
    if unsupported is not None:
        raise UnsupportedFunction(name, unsupported)
    user_fn = fn.get_user_function()
    sig = bind_signature(name, user_fn, bindings)
    return FunctionSpec(
        name=name,
        func=user_fn,
        trigger=triggers[0],
        bindings=bindings,
        inputs=sig.inputs,
        outputs=sig.outputs,
        returns=sig.returns,
        is_async=inspect.iscoroutinefunction(user_fn),
        needs_context=sig.needs_context,
        directory=str(Path(inspect.getfile(user_fn)).parent),
        script_file=script.name,
        function_json=function_json,
        retry=_retry(fn, name, config),
        disabled=is_disabled(name, environ),
        http_type=getattr(fn, "http_type", "function"),
    )


def _binding(raw: Mapping[str, Any]) -> BindingInfo:
    return BindingInfo(
        name=str(raw.get("name")),
        type=str(raw.get("type")),
        direction=str(raw.get("direction", "in")).lower(),
        raw=raw,
    )


def _retry(fn: Function, name: str, config: HostConfig) -> RetryOptions | None:
    settings = fn.get_settings_dict("retry_policy")
    if not settings:
        return config.retry
    try:
        return parse_retry(Section(settings, (), SettingReader(f"@app.retry on '{name}'", {})))
    except ConfigError as exc:
        raise FunctionLoadError(name, str(exc)) from None


def is_disabled(name: str, environ: Mapping[str, str]) -> bool:
    """`AzureWebJobs.<name>.Disabled` (or the `__`/`_` forms Linux app settings need)."""
    keys = {f"azurewebjobs{sep}{name}{sep}disabled".lower() for sep in (".", "__", "_")}
    return any(k.lower() in keys and v.strip().lower() in ("true", "1") for k, v in environ.items())
