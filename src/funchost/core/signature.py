"""Matching a function's Python signature to its bindings, with the worker's rules.

(PW `functions.py` `Registry.add_indexed_function`, semantics §8.3): every parameter but
`context` must match a binding and vice versa; out bindings need `func.Out[T]`; a
`str`/`bytes` annotation on a binding whose converter has no implicit output uses the
generic converter; an input annotated with an installed extension's SDK type (a blob
`BlobClient`, say) is an SDK-type binding; annotations must be accepted by the converter.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions import meta

from funchost.core.converters import (
    SDK_PREFIX,
    converter_for,
    has_implicit_output,
    sdk_converter,
)
from funchost.core.spec import RETURN, BindingInfo, ParamSpec
from funchost.errors import FunctionLoadError


@dataclass(frozen=True)
class Signature:
    inputs: tuple[ParamSpec, ...]
    outputs: tuple[ParamSpec, ...]
    returns: ParamSpec | None
    needs_context: bool


def bind_signature(
    name: str, fn: Callable[..., Any], bindings: tuple[BindingInfo, ...]
) -> Signature:
    """Raises FunctionLoadError naming the function and the mismatch."""
    params = dict(inspect.signature(fn).parameters)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - any error evaluating an annotation names the function
        raise FunctionLoadError(name, f"its type annotations cannot be resolved: {exc}") from None
    by_name = {b.name: b for b in bindings if b.name != RETURN}
    for b in bindings:
        if b.direction == "inout":
            raise FunctionLoadError(
                name,
                f'binding {b.name} has direction "inout", which Python functions do not support',
            )
        if b.name == RETURN and b.direction != "out":
            raise FunctionLoadError(name, '"$return" binding must have direction "out"')
    needs_context = "context" in params and "context" not in by_name
    if needs_context:
        params.pop("context")
        anno = hints.get("context")
        if anno is not None and not (isinstance(anno, type) and anno.__name__ == "Context"):
            raise FunctionLoadError(
                name,
                'the "context" parameter is expected to be of type '
                f"azure.functions.Context, got {anno!r}",
            )
    extra = set(params) - set(by_name)
    if extra:
        raise FunctionLoadError(
            name,
            "these parameters have no binding: "
            f"{', '.join(sorted(extra))} (route parameters are read "
            "from req.route_params, not declared as arguments)",
        )
    missing = set(by_name) - set(params)
    if missing:
        raise FunctionLoadError(
            name, f"these bindings have no parameter: {', '.join(sorted(missing))}"
        )
    inputs: list[ParamSpec] = []
    outputs: list[ParamSpec] = []
    for pname in params:
        param = _param(name, pname, by_name[pname], hints)
        (outputs if by_name[pname].direction == "out" else inputs).append(param)
    return Signature(tuple(inputs), tuple(outputs), _returns(name, bindings, hints), needs_context)


def _is_out(anno: Any) -> bool:
    origin = typing.get_origin(anno) or anno
    return isinstance(origin, type) and origin.__name__ == "Out"


def _param(fname: str, pname: str, binding: BindingInfo, hints: dict[str, Any]) -> ParamSpec:
    anno = hints.get(pname)
    is_out = anno is not None and _is_out(anno)
    if binding.direction == "out" and anno is not None and not is_out:
        raise FunctionLoadError(
            fname,
            f'binding {pname} has the "out" direction, but its '
            "annotation is not azure.functions.Out[...]",
        )
    if binding.direction != "out" and is_out:
        raise FunctionLoadError(
            fname,
            f'binding {pname} has the "in" direction, but its annotation is azure.functions.Out',
        )
    pytype = anno
    if is_out:
        args = typing.get_args(anno)
        if len(args) != 1:
            raise FunctionLoadError(
                fname, f"binding {pname} has an invalid Out annotation {anno!r}"
            )
        pytype = args[0]
    if anno is not None and not isinstance(pytype, type) and typing.get_origin(pytype) is None:
        raise FunctionLoadError(fname, f"binding {pname} has a non-type annotation {anno!r}")
    converter = binding.type
    if anno is not None and pytype in (str, bytes) and not has_implicit_output(binding.type):
        converter = "generic"
    elif anno is not None and not is_out and sdk_converter(binding.type, pytype) is not None:
        converter = SDK_PREFIX + binding.type  # an SDK-type binding (converters.py)
    if anno is not None and isinstance(pytype, type):
        conv = converter_for(converter)
        ok = (
            conv.check_output_type_annotation(pytype)
            if is_out
            else conv.check_input_type_annotation(pytype)
        )
        if not ok:
            raise FunctionLoadError(
                fname,
                f'the type of binding {pname} ("{binding.type}") '
                f'does not match its annotation "{pytype.__name__}"',
            )
    return ParamSpec(pname, binding, pytype, converter)


def _returns(
    fname: str, bindings: tuple[BindingInfo, ...], hints: dict[str, Any]
) -> ParamSpec | None:
    explicit = next((b for b in bindings if b.name == RETURN), None)
    anno = hints.get("return")
    if explicit is None:
        # Bindings without a library converter have an implicit output in the worker, so
        # such a function may return a value that is then ignored.
        implicit = next((b for b in bindings if has_implicit_output(b.type)), None)
        return None if implicit is None else ParamSpec(RETURN, implicit, anno, implicit.type)
    if anno is not None and anno is not type(None):
        if _is_out(anno):
            raise FunctionLoadError(fname, "the return annotation must not be azure.functions.Out")
        if isinstance(anno, type) and not converter_for(explicit.type).check_output_type_annotation(
            anno
        ):
            raise FunctionLoadError(
                fname,
                f'the return annotation "{anno.__name__}" does not '
                f'match the $return binding type "{explicit.type}"',
            )
    return ParamSpec(RETURN, explicit, anno, explicit.type)


__all__ = ["Signature", "bind_signature", "func", "meta"]
