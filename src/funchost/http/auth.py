"""Authorization of function and admin requests with keys (semantics §6.3).

The key comes from the `x-functions-key` header (which wins) or the `code` query
parameter. Unlike `func start`, keys are enforced locally by default, so a missing key
fails here as it would on Azure; `funchost start --no-auth` turns enforcement off.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from funchost.http.keys import KeyManager, Level

log = logging.getLogger("funchost.auth")


class KeysUnavailable(Exception):
    """The key store could not be read (for example, storage is down)."""


class Authorizer:
    def __init__(self, keys: KeyManager | None) -> None:
        self._keys = keys  # None: enforcement is off

    @property
    def enforced(self) -> bool:
        return self._keys is not None

    async def level(self, request: Request, function: str | None) -> Level:
        """The level the request's key grants; ADMIN for everything when not enforced."""
        if self._keys is None:
            return Level.ADMIN
        presented = request.headers.get("x-functions-key") or request.query_params.get("code")
        try:
            return await self._keys.level_of(presented, function)
        except Exception as exc:  # storage errors: refuse, never let the request through
            log.warning("Function keys could not be read: %s", exc)
            raise KeysUnavailable(str(exc)) from exc
