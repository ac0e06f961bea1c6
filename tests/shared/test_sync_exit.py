"""`shared.sync.run` from a synchronous program: its background loop's clients are closed
at interpreter exit (they used to be left open: "Unclosed client session" warnings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

PROGRAM = """
import sys
from shared import sync
from shared.storage import StorageAccount
from shared.status import StatusStore
account = StorageAccount.from_connection_string(sys.argv[1])
print(sync.run(StatusStore(account, table="SyncExitCheck").find("nobody")))
"""


def test_no_unclosed_sessions_at_exit(storage_connection_string: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", PROGRAM, storage_connection_string],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert "Unclosed" not in done.stderr, done.stderr
