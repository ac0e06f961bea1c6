"""checkov over infra/ (Bicep and Kubernetes manifests) and the Dockerfile: no failed check
except those infra/checkov-skips.yaml lists with a reason, no entry there that no longer
fails, and no file checkov cannot parse (except the listed skip paths).

checkov pins dependencies the project's own environment cannot share (packaging < 24, for
one, where pytest needs 24 or later), so it lives in a virtual environment of its own:
$CHECKOV, else <venv>/tools/checkov/bin/checkov, else `checkov` on PATH. The Makefile's
`checkov` target installs it there. Missing: skipped locally, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra import need
from tests.infra.bicep import INFRA, REPO

SKIPS_FILE = INFRA / "checkov-skips.yaml"


def checkov_command() -> str | None:
    candidates = [
        os.environ.get("CHECKOV"),
        str(Path(sys.prefix) / "tools" / "checkov" / "bin" / "checkov"),
        shutil.which("checkov"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def skips() -> dict[str, Any]:
    yaml = need("yaml", "pyyaml")
    data = yaml.safe_load(SKIPS_FILE.read_text())
    for entry in data["skips"] + data["skip_paths"]:
        assert len(str(entry.get("reason", "")).split()) >= 8, f"give a reason: {entry}"
    return dict(data)


def run(command: str, *args: str) -> list[dict[str, Any]]:
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [command, *args, "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
        check=False,
    )
    # Exit code 1 means "failed checks", which the caller inspects; anything else is an error.
    assert done.returncode in (0, 1), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    command = checkov_command()
    if command is None:
        from tests.conftest import unavailable

        unavailable(
            "checkov not found: `make checkov` installs it in .venv/tools/checkov "
            "(or set CHECKOV to its path)"
        )
    assert command is not None
    skip_paths = [f"infra/{entry['path']}" for entry in skips()["skip_paths"]]
    infra = run(
        command,
        "--directory",
        "infra",
        "--framework",
        "bicep",
        "kubernetes",
        *(arg for path in skip_paths for arg in ("--skip-path", path)),
    )
    docker = run(command, "--file", "Dockerfile", "--framework", "dockerfile")
    return infra + docker


def findings(reports: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (f["check_id"], f["file_path"].lstrip("/"), f["resource"])
        for report in reports
        for f in report["results"]["failed_checks"]
    }


def test_every_framework_ran_and_parsed_every_file(reports: list[dict[str, Any]]) -> None:
    kinds = {r["check_type"]: r["summary"] for r in reports}
    assert set(kinds) == {"bicep", "kubernetes", "dockerfile"}, kinds
    for kind, summary in kinds.items():
        assert summary["parsing_errors"] == 0, (kind, summary)
        assert summary["passed"] > 0, (kind, summary)
    assert kinds["bicep"]["resource_count"] >= 50, "checkov no longer reads the modules"


def test_no_failed_check_except_the_listed_skips(reports: list[dict[str, Any]]) -> None:
    listed = {(s["check"], s["file"], s["resource"]) for s in skips()["skips"]}
    found = findings(reports)
    unexpected = sorted(found - listed)
    assert not unexpected, (
        "new checkov findings (fix, or list with a reason in "
        f"infra/checkov-skips.yaml): {unexpected}"
    )
    stale = sorted(listed - found)
    assert not stale, f"listed in infra/checkov-skips.yaml but no longer failing: {stale}"
