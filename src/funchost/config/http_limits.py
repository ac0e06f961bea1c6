"""Limits of the host's HTTP server, as the real host's Kestrel server sets them.

The real host caps a request body at 100 MB, `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` bytes when
set (H `Middleware/HttpRequestBodySizeMiddleware.cs`, `ScriptConstants.DefaultMaxRequestBodySize`),
answering 413; the rest are Kestrel's defaults, which the host keeps: a keep-alive (idle)
timeout of 130 s, 30 s to send the request headers, and a request body that must arrive at
240 bytes/s or more after a 5 s grace period. funchost also bounds the number of open
connections (Kestrel does not by default; a local host on a laptop is better off with a
bound). The FUNCHOST_HTTP_* settings change the Kestrel-like ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from funchost.errors import ConfigError

BODY_LIMIT_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
KEEP_ALIVE_SETTING = "FUNCHOST_HTTP_KEEPALIVE_SECONDS"
HEADERS_SETTING = "FUNCHOST_HTTP_HEADERS_TIMEOUT_SECONDS"
BODY_RATE_SETTING = "FUNCHOST_HTTP_MIN_BODY_RATE"
CONNECTIONS_SETTING = "FUNCHOST_HTTP_MAX_CONNECTIONS"


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = 104_857_600
    keep_alive_seconds: float = 130.0
    headers_timeout_seconds: float = 30.0
    min_body_bytes_per_second: float = 240.0
    body_grace_seconds: float = 5.0
    max_connections: int = 1000

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpLimits:
        """The defaults, with any of the settings above; ConfigError names a bad one."""
        return cls(
            max_body_bytes=int(_number(environ, BODY_LIMIT_SETTING, cls.max_body_bytes)),
            keep_alive_seconds=_number(environ, KEEP_ALIVE_SETTING, cls.keep_alive_seconds),
            headers_timeout_seconds=_number(environ, HEADERS_SETTING, cls.headers_timeout_seconds),
            min_body_bytes_per_second=_number(
                environ, BODY_RATE_SETTING, cls.min_body_bytes_per_second
            ),
            max_connections=int(_number(environ, CONNECTIONS_SETTING, cls.max_connections)),
        )


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"environment variable {name} must be greater than 0, got {raw!r}")
    return value
