"""JSON schemas from type hints, and the converters that turn validated JSON back into what the
annotations ask for (an Enum member, a tuple, a set)."""

from __future__ import annotations

import collections.abc
import enum
import inspect
import json
import types
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from ..errors import UserError
from ._validate import Invalid, check, json_type_of

__all__ = ["MISSING", "Converter", "json_default", "schema_for", "without_none"]

Converter = Callable[[Any], Any]
"""Turns a validated JSON value into what the function's annotation asks for (an Enum member, a
tuple, a set)."""

MISSING: Final = object()
"""No value: a parameter without a JSON default, an annotation that is not Optional."""

_SCALARS: Final[dict[Any, str]] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARRAY_ORIGINS: Final = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
    collections.abc.Collection,
    collections.abc.Iterable,
)
_OBJECT_ORIGINS: Final = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SUPPORTED: Final = (
    "str, int, float, bool, list[X], tuple[...], set[X], dict[str, X], Optional[X], X | Y, "
    "Literal[...], an Enum subclass, Annotated[X, 'description'] or Any"
)


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    """`{"type": ..., "enum": values}` for Literal/Enum values, which must be JSON scalars."""
    kinds: list[str] = []
    for value in values:
        kind = json_type_of(value)
        if kind not in ("string", "integer", "number", "boolean", "null"):
            raise UserError(
                f"{where}: the value {value!r} cannot be sent as JSON; Literal and Enum values "
                "must be str, int, float, bool or None."
            )
        if kind not in kinds:
            kinds.append(kind)
    if kinds == ["integer", "number"] or kinds == ["number", "integer"]:
        kinds = ["number"]
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


def _is_none_type(tp: Any) -> bool:
    return tp is None or tp is type(None)


def _is_union(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin is Union or origin is types.UnionType


def without_none(tp: Any) -> Any:
    """`X` for `Optional[X]` (keeping an `Annotated` wrapper), `MISSING` if `tp` is not Optional."""
    if get_origin(tp) is Annotated:
        inner = without_none(tp.__origin__)
        if inner is MISSING:
            return MISSING
        return Annotated[(inner, *tp.__metadata__)]
    if not _is_union(tp):
        return MISSING
    args = get_args(tp)
    rest = [a for a in args if not _is_none_type(a)]
    if len(rest) == len(args) or not rest:
        return MISSING
    if len(rest) == 1:
        return rest[0]
    return Union[tuple(rest)]  # noqa: UP007 - built at runtime from a tuple of types


def _union_converter(branches: list[tuple[dict[str, Any], Converter | None]]) -> Converter:
    def convert(value: Any) -> Any:
        for schema, conv in branches:
            try:
                checked = check(value, schema, "")
            except Invalid:
                continue
            return conv(checked) if conv else checked
        return value

    return convert


def schema_for(tp: Any, where: str) -> tuple[dict[str, Any], Converter | None]:
    """The JSON schema for the annotation `tp`, and how to convert a JSON value back to it."""
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return {}, None
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        schema, conv = schema_for(tp.__origin__, where)
        text = next((m for m in tp.__metadata__ if isinstance(m, str)), None)
        if text:
            schema = {**schema, "description": text}
        return schema, conv
    if _is_none_type(tp):
        return {"type": "null"}, None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = list(tp)
        if not members:
            raise UserError(f"{where}: the Enum {tp.__name__} has no members.")
        return _enum_schema([m.value for m in members], where), tp
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}, None
    if origin is Literal:
        return _enum_schema(list(args), where), None
    if _is_union(tp):
        rest = [a for a in args if not _is_none_type(a)]
        nullable = len(rest) < len(args)
        branches = [schema_for(a, where) for a in rest]
        if len(branches) == 1:
            inner, conv = branches[0]
            alternatives = [inner]
        else:
            alternatives = [s for s, _ in branches]
            conv = _union_converter(branches) if any(c for _, c in branches) else None
        if not nullable:
            return {"anyOf": alternatives}, conv
        if conv is not None:
            inner_conv = conv

            def conv(value: Any) -> Any:
                return None if value is None else inner_conv(value)

        return {"anyOf": [*alternatives, {"type": "null"}]}, conv
    if tp in _ARRAY_ORIGINS or origin in _ARRAY_ORIGINS:
        container = origin if origin is not None else tp
        final: Converter | None = None
        if container is tuple or container is set or container is frozenset:
            final = container
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if args == ((),):  # tuple[()]
                return {"type": "array", "maxItems": 0}, tuple
            parts = [schema_for(a, where) for a in args]
            part_convs = [c for _, c in parts]

            def tuple_conv(value: Any) -> Any:
                return tuple(c(v) if c else v for c, v in zip(part_convs, value, strict=False))

            return {
                "type": "array",
                "prefixItems": [s for s, _ in parts],
                "minItems": len(parts),
                "maxItems": len(parts),
            }, tuple_conv
        schema = {"type": "array"}
        item_conv: Converter | None = None
        if args:
            items, item_conv = schema_for(args[0], where)
            schema["items"] = items
        if item_conv is None:
            return schema, final
        each = item_conv
        build: Converter = final or list

        def array_conv(value: Any) -> Any:
            return build(each(v) for v in value)

        return schema, array_conv
    if tp in _OBJECT_ORIGINS or origin in _OBJECT_ORIGINS:
        schema = {"type": "object"}
        if not args:
            return schema, None
        key, val = args
        if key is not str and key is not Any:
            raise UserError(
                f"{where}: dict keys must be str (JSON object keys are strings); got {key!r}."
            )
        val_schema, val_conv = schema_for(val, where)
        if val_schema:
            schema["additionalProperties"] = val_schema
        if val_conv is None:
            return schema, None
        vc = val_conv

        def dict_conv(value: Any) -> Any:
            return {k: vc(v) for k, v in value.items()}

        return schema, dict_conv
    raise UserError(f"{where}: the type {tp!r} is not supported in a tool; use {_SUPPORTED}.")


def json_default(value: Any) -> Any:
    """`value` as JSON for a schema's "default", or `MISSING` when it has no JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    elif isinstance(value, tuple | frozenset | set):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return MISSING
    return value
