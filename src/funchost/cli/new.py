"""`funchost new TEMPLATE NAME`: a function from a template, added to the app, as
`func new` adds one to a Python v2 app (issue 17 item 7).

Each template is the v2 decorator for its trigger (`@app.route`, `@app.queue_trigger`,
`@app.blob_trigger`, `@app.timer_trigger`, `@app.service_bus_queue_trigger`,
`@app.service_bus_topic_trigger`), appended to the app's script with the imports it needs;
`blueprint` writes `NAME.py` with a `func.Blueprint` and registers it in the script. The
script is checked first (a FunctionApp, no function of that name) and parsed again after.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import click

from funchost.cli.common import fail
from funchost.cli.scaffold import Script, append, check_identifier, snake, template
from funchost.config.local_settings import LocalSettings
from funchost.errors import HostError

IMPORTS = ["import logging", "import azure.functions as func"]


@dataclass(frozen=True)
class Template:
    file: str
    what: str  # for the message after adding it
    defaults: dict[str, str]  # placeholder -> default ({name}/{snake} filled in)


TEMPLATES: dict[str, Template] = {
    "http": Template("http.py.tmpl", "HTTP trigger, route {route}", {"route": "{snake}"}),
    "queue": Template(
        "queue.py.tmpl",
        "queue trigger on '{queue}'",
        {"queue": "{snake}-items", "connection": "AzureWebJobsStorage"},
    ),
    "blob": Template(
        "blob.py.tmpl",
        "blob trigger on '{path}'",
        {"path": "{snake}/{{name}}", "connection": "AzureWebJobsStorage"},
    ),
    "timer": Template(
        "timer.py.tmpl", "timer trigger, schedule '{schedule}'", {"schedule": "0 */5 * * * *"}
    ),
    "servicebus-queue": Template(
        "servicebus-queue.py.tmpl",
        "Service Bus queue trigger on '{queue}'",
        {"queue": "{snake}", "connection": "ServiceBusConnection"},
    ),
    "servicebus-topic": Template(
        "servicebus-topic.py.tmpl",
        "Service Bus topic trigger on '{topic}/{subscription}'",
        {"topic": "{snake}", "subscription": "{snake}-sub", "connection": "ServiceBusConnection"},
    ),
    "blueprint": Template(
        "blueprint.py.tmpl", "a blueprint with an HTTP trigger, route {route}", {"route": "{snake}"}
    ),
}
AUTH_LEVELS = ("anonymous", "function", "admin")
RESERVED_ROUTES = ("admin", "runtime")


def _values(kind: Template, name: str, given: dict[str, str | None]) -> dict[str, str]:
    values = {k: v.format(snake=snake(name)) for k, v in kind.defaults.items()}
    values.update({k: v for k, v in given.items() if v is not None and k in values})
    values["name"] = name
    return values


def _add_function(script: Script, kind: Template, values: dict[str, str]) -> str:
    app = script.app_name()
    block = template(kind.file, app=app, auth_level=values.pop("auth_level"), **values)
    return append(script.with_imports(IMPORTS), block)


def _add_blueprint(script: Script, values: dict[str, str]) -> tuple[str, Path, str]:
    """The script registering the blueprint, the blueprint module's path and its text."""
    name = values["name"]
    module = script.path.parent / f"{name}.py"
    if module.exists():
        raise HostError(f"{module} exists already; choose another name")
    app = script.app_name()
    source = template("blueprint.py.tmpl", **values)
    alias = f"{name}_blueprint"
    text = script.with_imports([*IMPORTS, f"from {name} import bp as {alias}"])
    return append(text, f"{app}.register_functions({alias})\n"), module, source


@click.command()
@click.argument("kind", metavar="TEMPLATE", type=click.Choice(sorted(TEMPLATES)))
@click.argument("name")
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Folder with function_app.py.",
)
@click.option("--route", help="HTTP and blueprint: the route (default: the name, dashed).")
@click.option(
    "--auth-level",
    type=click.Choice(AUTH_LEVELS),
    default="function",
    show_default=True,
    help="HTTP and blueprint: who may call it.",
)
@click.option("--queue", help="queue, servicebus-queue: the queue (default from the name).")
@click.option("--path", help="blob: container/pattern (default: <name>/{name}).")
@click.option("--schedule", help="timer: NCRONTAB schedule (default: every 5 minutes).")
@click.option("--topic", help="servicebus-topic: the topic (default: the name, dashed).")
@click.option("--subscription", help="servicebus-topic: the subscription.")
@click.option(
    "--connection",
    help="The connection setting (default: AzureWebJobsStorage / ServiceBusConnection).",
)
def new(kind: str, name: str, app_dir: Path, auth_level: str, **given: str | None) -> None:
    """Add a function NAME from TEMPLATE to the app: http, queue, blob, timer,
    servicebus-queue, servicebus-topic (v2 decorators in function_app.py), or blueprint
    (NAME.py with a func.Blueprint, registered in function_app.py)."""
    template_ = TEMPLATES[kind]
    try:
        check_identifier(name, "the function name")
        app_dir = app_dir.resolve()
        script_name = LocalSettings.load(app_dir).values.get(
            "PYTHON_SCRIPT_FILE_NAME", os.environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
        )
        script = Script.read(app_dir / script_name)
        if name in script.defined():
            raise HostError(f"{script.path}: '{name}' is defined already; choose another name")
        values = _values(template_, name, given)
        values["auth_level"] = auth_level.upper()
        route = values.get("route", "").strip("/").lower()
        if route.startswith(RESERVED_ROUTES):
            # H `ScriptHost.cs` refuses them too: the admin API and webhooks live there.
            raise HostError(
                f"route '{route}' starts with {' or '.join(RESERVED_ROUTES)}, which the host "
                f"keeps for itself (on Azure too); choose another with --route"
            )
        module: tuple[Path, str] | None = None
        if kind == "blueprint":
            text, path, source = _add_blueprint(script, values)
            module = (path, source)
            where = f"{path.name}, registered in {script.path.name}"
        else:
            text = _add_function(script, template_, values)
            where = script.path.name
        # The templates are code: prove the results still parse before writing anything.
        for path, code in [(script.path, text), *([module] if module else [])]:
            ast.parse(code, str(path))
    except HostError as exc:
        fail(str(exc))
    if module is not None:
        module[0].write_text(module[1], "utf-8")
    script.path.write_text(text, "utf-8")
    what = template_.what.format(**values)
    click.echo(f"Added function '{name}' ({what}) in {where}.")
