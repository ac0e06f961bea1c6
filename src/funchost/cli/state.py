"""Where an app's local state lives: outside the app folder (issue 17 item 2).

Azurite's data, the Service Bus emulator's messages and function keys kept in files are
per app, under a per-user data folder keyed by the app's path, so nothing of it is
published with the app (`func azure functionapp publish` uploads the folder) or shared by
two apps: `$XDG_DATA_HOME/funchost/apps/<folder name>-<hash of the path>` on Linux (default
`~/.local/share`), `~/Library/Application Support/funchost/apps/...` on macOS,
`%LOCALAPPDATA%\\funchost\\apps\\...` on Windows. `--state-dir` (or `FUNCHOST_STATE_DIR`)
chooses another folder.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from pathlib import Path

STATE_DIR_SETTING = "FUNCHOST_STATE_DIR"
OLD_STATE_FOLDER = ".funchost"  # where state lived before, inside the app folder


def data_home(environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The per-user data folder of this platform (as platformdirs' user_data_dir)."""
    if platform.startswith("win"):
        base = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base)
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"


def app_key(app_dir: Path) -> str:
    """`<folder name>-<12 hex digits of the path's hash>`: readable, and unique per path."""
    resolved = str(app_dir.resolve())
    digest = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", app_dir.resolve().name)[:40] or "app"
    return f"{name}-{digest}"


def state_dir(app_dir: Path, chosen: Path | None, environ: Mapping[str, str]) -> Path:
    """The app's state folder (not created here): `chosen`, else the per-user one."""
    if chosen is not None:
        return chosen.expanduser().resolve()
    return data_home(environ) / "funchost" / "apps" / app_key(app_dir)


def claim(folder: Path, app_dir: Path) -> None:
    """Create the folder and note which app it belongs to (`app.txt`), so a user looking
    under the data folder can tell the apps apart."""
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / "app.txt"
    text = f"{app_dir.resolve()}\n"
    if not note.exists() or note.read_text("utf-8") != text:
        note.write_text(text, "utf-8")
