"""The converters user code sees: the library's own (`azure.functions.meta`), exactly as
the real worker uses them, and a generic one for bindings the library has none for."""

from __future__ import annotations

from typing import Any

from azure.functions import meta
from azure.functions.meta import Datum


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
        raise TypeError(f"cannot send a value of type {type(obj).__name__} to this binding "
                        f"(use str, bytes, dict, list, int or float)")


def converter_for(binding_type: str) -> Any:
    """The library converter registered for `binding_type`, else the generic one."""
    if binding_type == "generic":
        return GenericConverter
    return meta.get_binding_registry().get(binding_type) or GenericConverter


def has_implicit_output(binding_type: str) -> bool:
    """The worker treats bindings without a library converter as having an implicit output
    (except Durable's client binding)."""
    conv = converter_for(binding_type)
    if conv is GenericConverter:
        return binding_type != "durableClient"
    probe = getattr(conv, "has_implicit_output", None)
    return bool(probe()) if callable(probe) else False
