"""Static checks of infra/, the Dockerfile and the Kubernetes manifests (no Azure, no cluster)."""

from __future__ import annotations

import importlib
from types import ModuleType


def need(module: str, package: str) -> ModuleType:
    """Import `module`, or skip (locally) / fail (CI=true) naming the dev dependency."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from tests.conftest import unavailable

        unavailable(f"{package} is not installed ({exc}): pip install -e '.[dev]'")
        raise
