"""Shared access signatures, checked as Service Bus checks them when `--require-key` is
given (the official emulator, like this one by default, takes any token).

A token is `SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>&skn=<key
name>`: the signature is the base64 HMAC-SHA256, under the key, of the URL-encoded
resource, a newline and the expiry (seconds since the epoch). It grants access to the
resource and everything under it until the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus, urlsplit

PREFIX = "SharedAccessSignature "
DEFAULT_KEY_NAME = "RootManageSharedAccessKey"
DEFAULT_KEY = "SAS_KEY_VALUE"  # the official emulator's, printed in the connection string


class InvalidToken(ValueError):
    """A token that grants nothing; the message says why (Service Bus words it alike)."""


@dataclass(frozen=True)
class SharedAccessKey:
    name: str = DEFAULT_KEY_NAME
    key: str = DEFAULT_KEY

    def sign(self, resource: str, expiry: int) -> str:
        """A token for `resource` (as the SDK makes one), for tests and tools."""
        signature = self._signature(resource, str(expiry))
        return (
            f"{PREFIX}sr={quote_plus(resource)}&sig={quote_plus(signature)}"
            f"&se={expiry}&skn={quote_plus(self.name)}"
        )

    def check(self, token: str, now: float) -> str:
        """The resource `token` grants access to.

        Raises:
            InvalidToken: not a signature, another key's, a wrong signature, or expired.
        """
        if not isinstance(token, str) or not token.startswith(PREFIX):
            raise InvalidToken("InvalidSignature: the token is not a shared access signature.")
        fields = dict(parse_qsl(token[len(PREFIX) :], keep_blank_values=True))
        resource, signature = fields.get("sr", ""), fields.get("sig", "")
        expiry, key_name = fields.get("se", ""), fields.get("skn", "")
        if key_name != self.name:
            raise InvalidToken(f"InvalidSignature: unknown key name {key_name!r}.")
        if not hmac.compare_digest(self._signature(resource, expiry), signature):
            raise InvalidToken("InvalidSignature: the token has an invalid signature.")
        if not expiry.isdigit() or int(expiry) < now:
            raise InvalidToken("ExpiredToken: the token is expired.")
        return resource

    def _signature(self, resource: str, expiry: str) -> str:
        to_sign = f"{quote_plus(resource)}\n{expiry}".encode()
        digest = hmac.new(self.key.encode(), to_sign, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()


def grants(resource: str, entity_path: str) -> bool:
    """Whether a token for `resource` (a URI) covers the entity at `entity_path` (lower
    case, as the broker keys it): the namespace covers everything, an entity itself and
    what is under it (a subscription, a dead-letter queue)."""
    granted = urlsplit(resource).path.strip("/").lower() if "://" in resource else resource
    granted = granted.strip("/").lower()
    return not granted or entity_path == granted or entity_path.startswith(granted + "/")
