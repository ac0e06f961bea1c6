"""The converters user code sees: the library's own (`azure.functions.meta`), exactly as
the real worker uses them, and a generic one for bindings the library has none for."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from http.cookies import SimpleCookie
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.meta import Datum

from funchost.core.http_cookies import rpc_cookies

# HTTP streaming (the real host's HTTP proxy mode): a function whose trigger parameter is the
# extension's `Request` gets the live request, and its return value goes to the response as
# it is, for the web framework to send; the worker does not encode it (PW `dispatcher.py`:
# no `to_outgoing_proto` when http_v2 is enabled). The HTTP trigger sets PROXIED while such a
# function runs; PROXY_DATUM is the Datum type of the live request and of that return value.
PROXIED: ContextVar[bool] = ContextVar("funchost_http_proxied", default=False)
PROXY_DATUM = "proxy"
# The streaming extension's base package (`azurefunctions-extensions-base`), imported by an
# app through `azurefunctions.extensions.http.fastapi`; it registers the web types.
EXTENSION_BASE = "azurefunctions.extensions.base"


class GenericConverter:
    """For `str`/`bytes` parameters and bindings without a library converter (for example
    table); the worker's behaviour (PW `bindings/generic.py`, semantics §7)."""

    @classmethod
    def has_trigger_support(cls) -> bool:
        return False

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes, bytearray))

    @classmethod
    def decode(cls, data: Datum | None, *, trigger_metadata: Any) -> Any:
        if data is None or data.type is None:
            return None
        if data.type in ("string", "bytes", "json"):
            return data.value
        raise ValueError(f"unexpected type of data for a generic binding: {data.type!r}")

    @classmethod
    def encode(cls, obj: Any, *, expected_type: Any) -> Datum:
        if isinstance(obj, str):
            return Datum(obj, "string")
        if isinstance(obj, (bytes, bytearray)):
            return Datum(bytes(obj), "bytes")
        if obj is None:
            return Datum(None, None)
        if isinstance(obj, bool):
            return Datum(obj, "bool")
        if isinstance(obj, dict):
            return Datum(obj, "dict")
        if isinstance(obj, list):
            return Datum(obj, "list")
        if isinstance(obj, int):
            return Datum(obj, "int")
        if isinstance(obj, float):
            return Datum(obj, "double")
        raise TypeError(
            f"cannot send a value of type {type(obj).__name__} to this binding "
            f"(use str, bytes, dict, list, int or float)"
        )


class HttpResponseEncoder:
    """The library's `http` out-converter, with a faster path for `func.HttpResponse`.

    The output is the same `http` datum the library builds (tests compare them): status code,
    headers with a content-type from mimetype/charset when none is set, Set-Cookie headers
    as cookies, the body as bytes. The library reaches that through werkzeug lookups that
    raise and catch KeyErrors; on every HTTP response that is worth avoiding.
    """

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        # With the streaming extension, its response types too (PW `bindings/meta.py`
        # `_check_http_output_type_annotation`).
        base = http_extension()
        return bool(_LIBRARY_HTTP.check_output_type_annotation(pytype)) or bool(
            base is not None and base.ResponseTrackerMeta.check_type(pytype)
        )

    @classmethod
    def encode(cls, obj: Any, *, expected_type: Any) -> Datum:
        if PROXIED.get():
            return Datum(obj, PROXY_DATUM)
        if not isinstance(obj, func.HttpResponse):
            datum: Datum = _LIBRARY_HTTP.encode(obj, expected_type=expected_type)
            if datum.type == "http" and datum.value.get("cookies"):
                datum.value["cookies"] = rpc_cookies(datum.value["cookies"])
            return datum
        headers: dict[str, Datum] = {}
        cookies = []
        has_type = False
        for name, value in obj.headers.items():
            low = name.lower()
            if low == "set-cookie":
                cookies.append(SimpleCookie(value))
                continue
            has_type = has_type or low == "content-type"
            headers[name] = Datum(value, "string")
        if not has_type:
            mimetype = obj.mimetype
            headers["content-type"] = Datum(
                f"{mimetype}; charset={obj.charset}" if mimetype.startswith("text/") else mimetype,
                "string",
            )
        body = obj.get_body()
        return Datum(
            {
                "status_code": Datum(str(obj.status_code), "string"),
                "headers": headers,
                # Converted as the worker converts them, so a bad one fails the invocation.
                "cookies": rpc_cookies(cookies) if cookies else None,
                "body": Datum(body if body is not None else b"", "bytes"),
            },
            "http",
        )


class HttpRequestDecoder:
    """The library's `httpTrigger` converter, which also accepts the streaming extension's
    `Request` (PW `bindings/meta.py` `_check_http_input_type_annotation`) and hands a live
    request (a `PROXY_DATUM`) through as it is."""

    @classmethod
    def has_trigger_support(cls) -> bool:
        return True

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        base = http_extension()
        return bool(_LIBRARY_HTTP_TRIGGER.check_input_type_annotation(pytype)) or bool(
            base is not None and base.RequestTrackerMeta.check_type(pytype)
        )

    @classmethod
    def decode(cls, data: Datum, *, trigger_metadata: Any) -> Any:
        if data.type == PROXY_DATUM:
            return data.value
        return _LIBRARY_HTTP_TRIGGER.decode(data, trigger_metadata=trigger_metadata)


def http_extension() -> Any | None:
    """The streaming extension's base module if the app imported it, else None (it is never
    imported here: an app that does not use it does not pay for FastAPI)."""
    return sys.modules.get(EXTENSION_BASE)


def _registry() -> Any:
    return meta.get_binding_registry()


# SDK-type ("deferred") bindings: a parameter annotated with an SdkType of an installed
# extension (azurefunctions-extensions-bindings-blob: BlobClient, ContainerClient,
# StorageStreamDownloader) gets a real SDK object instead of the content. The worker's rule
# (PW `bindings/meta.py` `check_deferred_bindings_enabled`, extension base `utils.py`
# `get_dict_repr`): the extension registers a converter for the binding type, the binding
# is an input, and the annotation is an SdkType. Such a parameter's converter key is
# SDK_PREFIX + the binding type.
SDK_PREFIX = "sdk:"
SDK_DATUM = "sdk"  # a Datum whose value is the SDK object itself, made by the binding


def sdk_converter(binding_type: str, pytype: Any) -> Any | None:
    """The extension's converter when `pytype` on a `binding_type` input is an SDK type
    (None without the extension, or for other types)."""
    try:
        from azurefunctions.extensions.base import meta as ext_meta  # type: ignore[import-untyped]
    except ImportError:
        return None
    registry = ext_meta.get_binding_registry()
    converter = registry.get(binding_type)
    if converter is None or not registry.check_supported_type(pytype):
        return None
    return converter


class SdkTypeConverter:
    """Hands the function the SDK object its binding made.

    The real host sends the worker a ModelBindingData (connection, container, blob) and the
    extension's converter builds the client there (N `BlobsExtensionConfigProvider`
    `CreateParameterBindingData`; PW `deferred_bindings_decode`). Here the binding builds it
    (some, a StorageStreamDownloader, need a request, made off the event loop), from the
    connection as funchost resolves it, so the converter only checks and passes it on.
    """

    def __init__(self, binding_type: str) -> None:
        self._binding_type = binding_type

    def check_input_type_annotation(self, pytype: type) -> bool:
        converter = sdk_converter(self._binding_type, pytype)
        return converter is not None and bool(converter.check_input_type_annotation(pytype))

    def decode(self, data: Datum | None, *, trigger_metadata: Any) -> Any:
        if data is None or data.type is None:
            return None
        if data.type != SDK_DATUM:
            raise ValueError(
                f"unexpected type of data for an SDK-type '{self._binding_type}' binding: "
                f"{data.type!r}"
            )
        return data.value


_LIBRARY_HTTP = _registry().get("http")
_LIBRARY_HTTP_TRIGGER = _registry().get("httpTrigger")


def converter_for(binding_type: str) -> Any:
    """The library converter registered for `binding_type`, else the generic one."""
    if binding_type == "generic":
        return GenericConverter
    if binding_type == "http":
        return HttpResponseEncoder
    if binding_type.startswith(SDK_PREFIX):
        return SdkTypeConverter(binding_type.removeprefix(SDK_PREFIX))
    if binding_type == "httpTrigger":
        return HttpRequestDecoder
    return _registry().get(binding_type) or GenericConverter


def has_implicit_output(binding_type: str) -> bool:
    """The worker treats bindings without a library converter as having an implicit output
    (except Durable's client binding)."""
    conv = converter_for(binding_type)
    if conv is GenericConverter:
        return binding_type != "durableClient"
    probe = getattr(conv, "has_implicit_output", None)
    return bool(probe()) if callable(probe) else False
