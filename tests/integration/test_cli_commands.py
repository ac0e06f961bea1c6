"""The Core Tools conveniences (issue 17 item 7), each through the command as a user runs
it: `init`, `new` with every template, `invoke`, `--cors`, colour, the Python check."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import APPS, DevProcess, clean_env, require_azurite, run_cli

pytestmark = pytest.mark.integration

TEMPLATES = [
    ("http", "hello", "httpTrigger"),
    ("queue", "orders", "queueTrigger"),
    ("blob", "images", "blobTrigger"),
    ("timer", "tick", "timerTrigger"),
    ("servicebus-queue", "jobs", "serviceBusTrigger"),
    ("servicebus-topic", "events", "serviceBusTrigger"),
    ("blueprint", "reports", "httpTrigger"),
]


@pytest.fixture
def new_app(tmp_path: Path) -> Path:
    """`funchost init`, then `funchost new` with every template."""
    env = clean_env(tmp_path / "data")
    app = tmp_path / "myapp"
    made = run_cli("init", str(app), env=env)
    assert made.returncode == 0, made.stderr
    for name in ("host.json", "local.settings.json", "requirements.txt", ".funcignore",
                 ".gitignore", "function_app.py"):
        assert f"created  {app / name}" in made.stdout
    for kind, name, _ in TEMPLATES:
        out = run_cli("new", kind, name, "--app-dir", str(app), env=env)
        assert out.returncode == 0, out.stderr
        assert f"Added function '{name}'" in out.stdout
    return app


def test_init_writes_an_app_that_keeps_local_files_out_of_a_publish(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    app = tmp_path / "fresh"
    run_cli("init", str(app), env=env)
    assert "local.settings.json" in (app / ".funcignore").read_text().splitlines()
    assert "local.settings.json" in (app / ".gitignore").read_text().splitlines()
    settings = json.loads((app / "local.settings.json").read_text())
    assert settings["Values"]["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert json.loads((app / "host.json").read_text())["version"] == "2.0"
    # A second init keeps what is there.
    (app / "host.json").write_text('{"version": "2.0", "mine": true}')
    again = run_cli("init", str(app), env=env)
    assert f"kept     {app / 'host.json'} (exists)" in again.stdout
    assert json.loads((app / "host.json").read_text())["mine"] is True
    listed = run_cli("list", "--json", "--app-dir", str(app), env=env)
    assert json.loads(listed.stdout) == {"functions": [], "errors": []}


def test_new_adds_every_template_as_an_indexable_function(new_app: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    listed = run_cli("list", "--json", "--app-dir", str(new_app), env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["errors"] == []
    assert {f["name"]: f["trigger"]["type"] for f in data["functions"]} == {
        name: trigger for _, name, trigger in TEMPLATES
    }
    assert (new_app / "reports.py").is_file()
    script = (new_app / "function_app.py").read_text()
    assert "from reports import bp as reports_blueprint" in script
    assert script.rstrip().endswith("app.register_functions(reports_blueprint)")


def test_new_refuses_what_would_break_the_app(new_app: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    before = (new_app / "function_app.py").read_text()
    for args, message in [
        (["http", "hello"], "'hello' is defined already"),
        (["http", "1st"], "is not a Python identifier"),
        (["http", "admin_page"], "route 'admin-page' starts with admin or runtime"),
        (["blueprint", "reports"], "reports.py exists already"),
        (["queue", "x", "--app-dir", str(tmp_path / "nowhere")], "no such file"),
    ]:
        args = args if "--app-dir" in args else [*args, "--app-dir", str(new_app)]
        out = run_cli("new", *args, env=env)
        assert out.returncode == 1 and message in out.stderr, (args, out.stderr)
    assert (new_app / "function_app.py").read_text() == before


def test_the_new_app_runs_under_dev_and_invoke_runs_a_function_in_it(
    new_app: Path, tmp_path: Path
) -> None:
    """`invoke` goes through the running host's admin endpoint: the function runs there,
    and its log lines appear in that host's console."""
    require_azurite()
    env = clean_env(tmp_path / "data")
    with DevProcess(new_app, env, ["--cors", "https://portal.example"]) as proc:
        proc.start()
        assert "7 functions running." in proc.output()
        r = httpx.get(f"{proc.url}/api/hello", params={"name": "Ada"}, timeout=30)
        assert r.text.startswith("Hello, Ada.")
        assert httpx.get(f"{proc.url}/api/reports", timeout=30).status_code == 200
        # --cors (as `func start --cors`): preflight and simple requests get the headers.
        preflight = httpx.options(
            f"{proc.url}/api/hello",
            headers={"origin": "https://portal.example", "access-control-request-method": "GET"},
            timeout=30,
        )
        assert preflight.headers["access-control-allow-origin"] == "https://portal.example"
        other = httpx.get(f"{proc.url}/api/hello", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers

        port = ["--port", str(proc.port), "--app-dir", str(new_app)]
        out = run_cli("invoke", "orders", "--input", "order-42", *port, env=env)
        assert out.returncode == 0, out.stderr
        assert f"Accepted: 'orders' runs now in the host at http://localhost:{proc.port}" in out.stdout
        assert proc.wait_for_output(r"processed a queue item: order-42", timeout=30)
        assert run_cli("invoke", "jobs", "--input", "sb-7", *port, env=env).returncode == 0
        assert proc.wait_for_output(r"Service Bus queue trigger processed a message: sb-7")

        missing = run_cli("invoke", "nope", *port, env=env)
        assert missing.returncode == 1
        assert "No function named 'nope'" in missing.stderr and "funchost list" in missing.stderr
        http = run_cli("invoke", "hello", *port, env=env)
        assert "'hello' is an HTTP function; call its URL instead" in http.stderr


def test_invoke_sends_the_master_key_when_the_host_wants_one(tmp_path: Path) -> None:
    """With keys enforced and kept in files (no storage), `invoke` reads the master key
    where the host keeps it, in the app's state folder."""
    from tests.hostprocess import HostProcess

    env = clean_env(tmp_path / "data", {"AzureWebJobsSecretStorageType": "files"})
    proc = HostProcess(APPS / "partial", env=env, args=["--auth"])
    proc.start()
    try:
        anonymous = httpx.post(f"{proc.url}/admin/functions/nope", json={"input": ""}, timeout=30)
        assert anonymous.status_code == 401
        out = run_cli(
            "invoke", "nope", "--port", str(proc.port), "--app-dir", str(APPS / "partial"),
            env=env,
        )
        assert "No function named 'nope'" in out.stderr  # past the key: the host looked
    finally:
        proc.stop()
    assert not (APPS / "partial" / ".funchost").exists()


def test_invoke_without_a_host_says_how_to_start_one(tmp_path: Path) -> None:
    out = run_cli(
        "invoke", "x", "--url", "http://127.0.0.1:9", "--app-dir", str(APPS / "partial"),
        env=clean_env(tmp_path),
    )
    assert out.returncode == 1
    assert "no host answers at http://127.0.0.1:9" in out.stderr and "funchost dev" in out.stderr


def test_list_imports_the_app_in_its_folder_whatever_folder_it_was_run_from(
    tmp_path: Path,
) -> None:
    """The app reads `data/greeting.txt` at import, relative to the working directory (the
    worker's is the app folder: H `RpcWorkerProcess.cs`); `list` run from elsewhere, as
    `start` and `dev`, imports it there."""
    app = APPS / "fidelity_logs"
    out = run_cli("list", "--json", "--app-dir", str(app), env=clean_env(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert listed["errors"] == [] and "cwd" in {f["name"] for f in listed["functions"]}


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """The command's output as a terminal receives it (stdout is a pty)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "funchost", *args], stdout=child, stderr=child, env=env
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(60)
    os.close(main)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only_and_never_with_no_color(tmp_path: Path) -> None:
    args = ["list", "--app-dir", str(APPS / "partial")]
    env = clean_env(tmp_path)
    assert "\x1b[" in _on_a_terminal(args, env)
    assert "\x1b[" not in _on_a_terminal(args, {**env, "NO_COLOR": "1"})
    piped = run_cli(*args, env=env)
    assert "\x1b[" not in piped.stdout and "hub: not supported" in piped.stdout


def test_an_old_python_gets_a_clear_message() -> None:
    code = (
        "import sys; sys.version_info = (3, 9, 18, 'final', 0); "
        "from funchost.cli import main; main()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: funchost needs Python 3.10 or newer; this is Python 3.9.18")
    assert "Traceback" not in out.stderr
