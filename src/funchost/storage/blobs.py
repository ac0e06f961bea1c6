"""Blob paths as bindings use them (semantics §3.5): `container/{name}.{ext}` patterns that
match blob names and give their parts as binding data, and the metadata the real host
passes with a blob."""

from __future__ import annotations

import base64
import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError

from funchost.errors import BindingError


def blob_container_key(container: str) -> str:
    """The notifier key a blob write uses to wake this host's scanner of its container."""
    return f"blob-container:{container.lower()}"


async def ensure_container(container: Any) -> None:
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()


@dataclass(frozen=True)
class BlobPattern:
    """`container/<blob pattern>`: no expressions in the container; in the blob part,
    `{name}` matches any characters ('/' too), literals match exactly, `{{`/`}}` escape."""

    container: str
    blob: str
    regex: re.Pattern[str]
    names: tuple[str, ...]

    @classmethod
    def parse(cls, path: str, *, what: str) -> BlobPattern:
        container, sep, blob = path.strip().lstrip("/").partition("/")
        if not container or not sep:
            raise BindingError(f"{what}: path '{path}' must be 'container/blob-pattern'")
        if "{" in container or "}" in container:
            raise BindingError(
                f"{what}: path '{path}': the container name cannot hold binding expressions"
            )
        parts: list[str] = []
        names: list[str] = []
        for m in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}|[^{}]+|[{}]", blob or "{name}"):
            token = m.group(0)
            if token in ("{{", "}}"):
                parts.append(re.escape(token[0]))
            elif m.group(1) is not None:
                name = m.group(1).strip()
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise BindingError(
                        f"{what}: path '{path}': '{{{name}}}' is not a valid parameter name"
                    )
                if name.lower() in (n.lower() for n in names):
                    raise BindingError(f"{what}: path '{path}': '{{{name}}}' appears twice")
                names.append(name)
                parts.append(f"(?P<{name}>.+)")
            elif token in ("{", "}"):
                raise BindingError(f"{what}: path '{path}': unmatched '{token}'")
            else:
                parts.append(re.escape(token))
        return cls(container.lower(), blob, re.compile("".join(parts), re.DOTALL), tuple(names))

    def match(self, blob_name: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(blob_name)
        return None if m is None else {n: m.group(n) for n in self.names}


def quoted_etag(etag: str) -> str:
    """ETags as HTTP headers carry them (`"0x8D..."`), which is how the real host writes them
    into receipt paths and queue messages; blob listings give them unquoted."""
    return etag if etag.startswith('"') else f'"{etag}"'


def properties_json(props: Any) -> dict[str, Any]:
    """The `Properties` binding data, with .NET BlobProperties names."""
    settings = props.content_settings
    md5 = settings.content_md5 if settings else None
    return {
        "ContentLength": props.size,
        "Length": props.size,
        "ContentType": settings.content_type if settings else None,
        "ContentEncoding": settings.content_encoding if settings else None,
        "ContentLanguage": settings.content_language if settings else None,
        "ContentMD5": base64.b64encode(md5).decode() if md5 else None,
        "CacheControl": settings.cache_control if settings else None,
        "ETag": quoted_etag(props.etag),
        "LastModified": _iso(props.last_modified),
        "CreatedOn": _iso(getattr(props, "creation_time", None)),
        "BlobType": str(getattr(props, "blob_type", "BlockBlob")).split(".")[-1],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
