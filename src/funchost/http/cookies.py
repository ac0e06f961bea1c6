"""`Set-Cookie` headers as the real host writes the worker's cookies.

The host turns each `RpcHttpCookie` into ASP.NET `CookieOptions` (H
`Grpc/MessageExtensions/GrpcMessageExtensionUtilities.cs` `RpcHttpCookieConverter`) and
appends it to the response (H `Binding/Http/RawScriptResult.cs`), where ASP.NET Core
renders it (`Http/src/Internal/ResponseCookies.cs`, `Headers/src/SetCookieHeaderValue.cs`):
the name as is, the value escaped like `Uri.EscapeDataString`, then the attributes in
lower case and in this order: `expires` (RFC 1123, GMT), `max-age` (whole seconds),
`domain`, `path`, `secure`, `samesite`, `httponly`. A max-age ASP.NET cannot format
(negative, not finite) fails the response: 500, after the invocation succeeded.
"""

from __future__ import annotations

import logging
import math
from email.utils import format_datetime
from urllib.parse import quote

from funchost.core.http_cookies import RpcCookie

log = logging.getLogger("funchost.http")


def set_cookie_header(cookie: RpcCookie) -> str:
    """The header value. Raises ValueError where ASP.NET Core throws."""
    # Uri.EscapeDataString keeps RFC 3986's unreserved characters, as quote(safe="") does.
    parts = [f"{cookie.name}={quote(cookie.value, safe='')}"]
    if cookie.expires is not None:
        parts.append(f"expires={format_datetime(cookie.expires, usegmt=True)}")
    if cookie.max_age is not None:
        parts.append(f"max-age={_seconds(cookie)}")
    parts.append(f"domain={cookie.domain}")
    parts.append(f"path={cookie.path}")
    if cookie.secure:
        parts.append("secure")
    if cookie.same_site:
        if cookie.same_site == "none" and not cookie.secure:
            # ASP.NET's own warning (ResponseCookies.Log.SameSiteCookieNotSecure).
            log.warning(
                "The cookie '%s' has set 'SameSite=None' and must also set 'Secure'.",
                cookie.name,
            )
        parts.append(f"samesite={cookie.same_site}")
    if cookie.http_only:
        parts.append("httponly")
    return "; ".join(parts)


def _seconds(cookie: RpcCookie) -> int:
    """`(long)TimeSpan.FromSeconds(max_age).TotalSeconds`, as HeaderUtilities formats it."""
    value = cookie.max_age
    assert value is not None
    if not math.isfinite(value) or value <= -1:
        raise ValueError(
            f"cookie '{cookie.name}': max-age {value:g} cannot be written (it must be a "
            f"non-negative number of seconds)"
        )
    return int(value)  # truncated toward zero, as the cast to long
