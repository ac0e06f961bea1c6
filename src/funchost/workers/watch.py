"""Noticing that the app's code changed (`--reload`): the app folder's Python files and its
host.json (HOST_FILES: a change there restarts the host, not only its workers), polled.

Polling, from the standard library: it works the same on every file system (a container's
bind mount, a network drive) and needs nothing in funchost's environment; an app folder
holds few enough files for a scan every half second to cost little. Folders that are not
the app's code are skipped: virtual environments, caches, `node_modules`, dot-folders.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

INTERVAL = 0.5
SKIPPED = {"__pycache__", "node_modules", "venv", "env", "site-packages"}
HOST_FILES = ("host.json",)  # read by the host itself, at start

Snapshot = dict[str, tuple[int, int]]


def snapshot(folder: Path) -> Snapshot:
    """(mtime, size) of every Python file under `folder` and of its HOST_FILES, by path
    relative to it."""
    found: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIPPED and not d.startswith(".")]
        for name in files:
            if name.endswith(".py") or (root == str(folder) and name in HOST_FILES):
                path = Path(root, name)
                try:
                    stat = path.stat()
                except OSError:
                    continue  # removed while scanning: the next scan sees it gone
                found[str(path.relative_to(folder))] = (stat.st_mtime_ns, stat.st_size)
    return found


async def changes(folder: Path, interval: float = INTERVAL) -> AsyncIterator[list[str]]:
    """Yields the changed, added or removed files each time the code changed and then
    stayed the same for one interval (an editor's save is often several writes)."""
    before = await anyio.to_thread.run_sync(snapshot, folder)
    while True:
        await anyio.sleep(interval)
        now = await anyio.to_thread.run_sync(snapshot, folder)
        if now == before:
            continue
        while True:  # settle
            await anyio.sleep(interval)
            settled = await anyio.to_thread.run_sync(snapshot, folder)
            if settled == now:
                break
            now = settled
        changed = sorted(p for p in now.keys() | before.keys() if now.get(p) != before.get(p))
        before = now
        yield changed
