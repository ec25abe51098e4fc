"""Tools an agent lets its model call: `Tool`, the `@tool` decorator and `ToolRegistry`.

A `Tool` pairs a Python callable with the JSON schema a model needs to call it. The schema is built
once, from the function's type hints and docstring, so that what the model is told and what the
function accepts cannot drift apart. `ToolRegistry.execute` runs a model's tool call: it parses and
validates the arguments against that schema first and, instead of raising, returns a `ToolCallError`
whose text tells the model what was wrong, so that one bad call does not crash the run.

Example:
    ```python
    @tool
    def get_weather(location: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"Get the current weather for a location.

        Args:
            location: City name, e.g. "Paris".
        \"\"\"
        return f"Sunny in {location}"

    tools = ToolRegistry([get_weather])
    result = await tools.execute("get_weather", '{"location": "Paris"}')
    ```
"""

from __future__ import annotations

import asyncio
import collections.abc
import enum
import functools
import inspect
import json
import math
import re
import traceback as _traceback
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin, overload

from . import _secrets
from ._json import MAX_ARGUMENT_BYTES, MAX_DEPTH, loads_bounded, value_depth_exceeds
from ._redaction import get_logger
from .errors import InvalidInputError, UserError
from .runtime import RunContext, current_run_context

__all__ = ["Tool", "ToolCallError", "ToolRegistry", "tool"]

logger = get_logger(__name__)

_NAME_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# A model's arguments over 1 MB (`_json.MAX_ARGUMENT_BYTES`), nested deeper than 128 levels
# (`_json.MAX_DEPTH`), or holding an integer of more than 4300 digits come back to the model as a
# `ToolCallError` naming the limit.

Converter = Callable[[Any], Any]
"""Turns a validated JSON value into what the function's annotation asks for (an Enum member, a
tuple, a set)."""

ToolCallErrorKind = Literal["invalid_arguments", "unknown_tool", "tool_error", "timeout"]

_MISSING: Final = object()


# --------------------------------------------------------------------------------------------------
# ToolCallError
# --------------------------------------------------------------------------------------------------

_PREFIXES: Final[dict[str, str]] = {
    "invalid_arguments": "tool {tool!r} got invalid arguments",
    "unknown_tool": "unknown tool {tool!r}",
    "tool_error": "tool {tool!r} failed",
    "timeout": "tool {tool!r} timed out",
}


@dataclass(frozen=True)
class ToolCallError:
    """Why a tool call produced no result, returned (never raised) by `ToolRegistry.execute`.

    It is a value rather than an exception because the model, not the developer, made the mistake
    and can fix it: put `str(error)` in the tool message and the model reads what went wrong and
    what was expected. Check for it with `isinstance(result, ToolCallError)`.
    """

    tool: str
    """The name of the tool the model called."""
    message: str
    """What went wrong (redacted: no key-shaped string survives)."""
    kind: ToolCallErrorKind
    """`invalid_arguments`, `unknown_tool`, `tool_error` (the tool raised) or `timeout`."""
    expected: str | None = None
    """For `invalid_arguments`: the tool's JSON schema, so the model can correct its call."""

    def __str__(self) -> str:
        prefix = _PREFIXES.get(self.kind, "tool {tool!r} failed").format(tool=self.tool)
        message = self.message.rstrip()
        if message and message[-1] not in ".!?":
            message += "."
        text = f"Error: {prefix}: {message}"
        if self.expected:
            text += f" Expected: {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, e.g. for the `error` of a TOOL_RESULT event."""
        return {"tool": self.tool, "kind": self.kind, "message": self.message, "error": str(self)}


# --------------------------------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------------------------------

_SECTION_RE: Final = re.compile(r"^([A-Za-z][A-Za-z ]{1,30}):\s*$")
_ARG_SECTIONS: Final = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "kwargs"}
)
_GOOGLE_ARG_RE: Final = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM_RE: Final = re.compile(r"^:param\s+(?:[^:]*?\s)?\*{0,2}(\w+)\s*:\s*(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring into its first paragraph and its per-parameter descriptions.

    Reads a Google-style `Args:` section (`name (type): text`, continuation lines indented deeper)
    and tolerates reST `:param name: text` fields, the two styles models' tool authors use most.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or _SECTION_RE.match(stripped) or stripped.startswith(":"):
            break
        summary.append(stripped)
    params: dict[str, str] = {}
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        section = _SECTION_RE.match(stripped)
        if section and section.group(1).strip().lower() in _ARG_SECTIONS:
            base = _indent(line)
            entry_indent: int | None = None
            current: str | None = None
            i += 1
            while i < n:
                entry = lines[i]
                if not entry.strip():
                    i += 1
                    continue
                ind = _indent(entry)
                if ind <= base:
                    break
                if entry_indent is None:
                    entry_indent = ind
                if ind <= entry_indent:
                    match = _GOOGLE_ARG_RE.match(entry.strip())
                    current = match.group(1) if match else None
                    if match:
                        params[match.group(1)] = match.group(2).strip()
                elif current is not None:
                    params[current] = f"{params[current]} {entry.strip()}".strip()
                i += 1
            continue
        rest = _REST_PARAM_RE.match(stripped)
        if rest:
            name, text = rest.group(1), rest.group(2).strip()
            base = _indent(line)
            i += 1
            while i < n and lines[i].strip() and _indent(lines[i]) > base:
                text = f"{text} {lines[i].strip()}".strip()
                i += 1
            params[name] = text
            continue
        i += 1
    return " ".join(summary), params


# --------------------------------------------------------------------------------------------------
# Type hints -> JSON schema
# --------------------------------------------------------------------------------------------------

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


def _json_type_of(value: Any) -> str:
    """The JSON type name of a Python value, for schemas and error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    """`{"type": ..., "enum": values}` for Literal/Enum values, which must be JSON scalars."""
    kinds: list[str] = []
    for value in values:
        kind = _json_type_of(value)
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


def _without_none(tp: Any) -> Any:
    """`X` for `Optional[X]` (keeping an `Annotated` wrapper), `_MISSING` if `tp` is not Optional."""
    if get_origin(tp) is Annotated:
        inner = _without_none(tp.__origin__)
        if inner is _MISSING:
            return _MISSING
        return Annotated[(inner, *tp.__metadata__)]
    if not _is_union(tp):
        return _MISSING
    args = get_args(tp)
    rest = [a for a in args if not _is_none_type(a)]
    if len(rest) == len(args) or not rest:
        return _MISSING
    if len(rest) == 1:
        return rest[0]
    return Union[tuple(rest)]  # noqa: UP007 - built at runtime from a tuple of types


def _union_converter(branches: list[tuple[dict[str, Any], Converter | None]]) -> Converter:
    def convert(value: Any) -> Any:
        for schema, conv in branches:
            try:
                checked = _check(value, schema, "")
            except _Invalid:
                continue
            return conv(checked) if conv else checked
        return value

    return convert


def _schema_for(tp: Any, where: str) -> tuple[dict[str, Any], Converter | None]:
    """The JSON schema for the annotation `tp`, and how to convert a JSON value back to it."""
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return {}, None
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        schema, conv = _schema_for(tp.__origin__, where)
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
        branches = [_schema_for(a, where) for a in rest]
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
            parts = [_schema_for(a, where) for a in args]
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
            items, item_conv = _schema_for(args[0], where)
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
        val_schema, val_conv = _schema_for(val, where)
        if val_schema:
            schema["additionalProperties"] = val_schema
        if val_conv is None:
            return schema, None
        vc = val_conv

        def dict_conv(value: Any) -> Any:
            return {k: vc(v) for k, v in value.items()}

        return schema, dict_conv
    raise UserError(f"{where}: the type {tp!r} is not supported in a tool; use {_SUPPORTED}.")


def _json_default(value: Any) -> Any:
    """`value` as JSON for a schema's "default", or `_MISSING` when it has no JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    elif isinstance(value, tuple | frozenset | set):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _MISSING
    return value


# --------------------------------------------------------------------------------------------------
# Validation (a JSON-schema subset, in plain Python)
# --------------------------------------------------------------------------------------------------

_TYPE_WORDS: Final[dict[str, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


class _Invalid(Exception):
    """One reason an argument does not fit its schema (internal; becomes a ToolCallError)."""


def _preview(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(schema: Any) -> str:
    """A short English description of what `schema` accepts, for error messages."""
    if not isinstance(schema, dict) or not schema:
        return "any value"
    if "enum" in schema:
        return f"one of {_preview(schema['enum'])}"
    if "const" in schema:
        return f"exactly {_preview(schema['const'])}"
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list):
        return " or ".join(dict.fromkeys(_describe(s) for s in alternatives))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict) and schema["items"]:
        return f"an array of {_describe(schema['items'])} items"
    if isinstance(kind, str):
        return _TYPE_WORDS.get(kind, f"of type {kind}")
    return "a value matching the schema"


def _got(value: Any) -> str:
    kind = _json_type_of(value)
    return "null" if kind == "null" else f"{kind} {_preview(value)}"


def _match_type(value: Any, kind: Any) -> tuple[bool, Any]:
    """Whether `value` is of JSON type `kind`; an integral float is accepted (and converted) for
    "integer", since JSON does not tell `5` from `5.0`."""
    if kind == "string":
        return isinstance(value, str), value
    if kind == "integer":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)
        return False, value
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "null":
        return value is None, value
    if kind == "array":
        return isinstance(value, list | tuple), value
    if kind == "object":
        return isinstance(value, dict), value
    return True, value  # an unknown type name constrains nothing


def _in_enum(value: Any, allowed: list[Any]) -> bool:
    # `True == 1` in Python, but not in JSON: a boolean only matches a boolean.
    return any(
        value == option and isinstance(value, bool) == isinstance(option, bool)
        for option in allowed
    )


def _label(path: str) -> str:
    return f"argument {path!r}" if path else "value"


def _check(value: Any, schema: Any, path: str) -> Any:
    """Validate `value` against `schema`; return it (integral floats made ints) or raise `_Invalid`."""
    if schema is True or schema is None:
        return value
    if schema is False:
        raise _Invalid(f"{_label(path)} is not allowed")
    if not isinstance(schema, dict):
        return value
    alternatives = schema.get("anyOf")
    if alternatives is None:
        alternatives = schema.get("oneOf")
    if isinstance(alternatives, list) and alternatives:
        for option in alternatives:
            try:
                value = _check(value, option, path)
                break
            except _Invalid:
                continue
        else:
            raise _Invalid(f"{_label(path)} must be {_describe(schema)}, got {_got(value)}")
    if "const" in schema and not _in_enum(value, [schema["const"]]):
        raise _Invalid(f"{_label(path)} must be {_describe(schema)}, got {_got(value)}")
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        for candidate in kinds:
            ok, converted = _match_type(value, candidate)
            if ok:
                value = converted
                break
        else:
            expected = " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
            raise _Invalid(f"{_label(path)} must be {expected}, got {_got(value)}")
    allowed = schema.get("enum")
    if isinstance(allowed, list) and not _in_enum(value, allowed):
        raise _Invalid(f"{_label(path)} must be one of {_preview(allowed)}, got {_got(value)}")
    if isinstance(value, dict) and (
        "properties" in schema or "required" in schema or "additionalProperties" in schema
    ):
        value, errors = _check_object(value, schema, path, strict=False)
        if errors:
            raise _Invalid(errors[0])
    elif isinstance(value, list | tuple):
        value = _check_array(value, schema, path)
    return value


def _check_array(value: list[Any] | tuple[Any, ...], schema: dict[str, Any], path: str) -> Any:
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    if isinstance(min_items, int) and len(value) < min_items:
        raise _Invalid(f"{_label(path)} must have at least {min_items} items, got {len(value)}")
    if isinstance(max_items, int) and len(value) > max_items:
        raise _Invalid(f"{_label(path)} must have at most {max_items} items, got {len(value)}")
    prefix = schema.get("prefixItems")
    prefix = prefix if isinstance(prefix, list) else []
    items = schema.get("items")
    if not prefix and (items is None or items is True or items == {}):
        return value
    out = []
    for index, item in enumerate(value):
        item_schema = prefix[index] if index < len(prefix) else items
        out.append(_check(item, item_schema, f"{path}[{index}]"))
    return out if isinstance(value, list) else tuple(out)


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, *, strict: bool
) -> tuple[dict[str, Any], list[str]]:
    """Check an object's fields; return the checked copy and every problem found.

    With `strict`, fields the schema does not list are refused unless it allows them with
    `additionalProperties` (the rule for a tool's top-level arguments, which become keyword
    arguments); otherwise JSON Schema's rule applies (allowed unless `additionalProperties` is false).
    """
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    additional = schema.get("additionalProperties", _MISSING)
    if additional is _MISSING:
        additional = not (strict and "properties" in schema)
    prefix = f"{path}." if path else ""
    errors = [f"missing required {_label(prefix + r)}" for r in required if r not in value]
    unexpected: list[str] = []
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = properties.get(key, _MISSING)
        if sub is _MISSING:
            if additional is False:
                unexpected.append(key)
                continue
            sub = additional if isinstance(additional, dict) else True
        elif item is None and isinstance(sub, dict) and sub.get("default", _MISSING) is None:
            out[key] = None  # an explicit null where the default is null means "the default"
            continue
        try:
            out[key] = _check(item, sub, prefix + key)
        except _Invalid as exc:
            errors.append(str(exc))
    if unexpected:
        names = ", ".join(repr(prefix + k) for k in unexpected)
        known = ", ".join(repr(k) for k in properties) or "none"
        noun = "argument" if len(unexpected) == 1 else "arguments"
        errors.append(f"unexpected {noun} {names} (allowed: {known})")
    return out, errors


# --------------------------------------------------------------------------------------------------
# Introspection
# --------------------------------------------------------------------------------------------------


def _callable_name(fn: Any) -> str | None:
    target = fn.func if isinstance(fn, functools.partial) else fn
    name = getattr(target, "__name__", None)
    if name is None and not inspect.isroutine(target):
        name = type(target).__name__
    return name if isinstance(name, str) else None


def _hint_target(fn: Any) -> Any:
    """What `typing.get_type_hints` should read for `fn` (a partial's function, an object's
    `__call__`)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isclass(fn):
        return fn.__init__
    if inspect.isroutine(fn):
        return fn
    return type(fn).__call__ if callable(fn) else fn


def _resolve_hints(fn: Any, *, strict: bool) -> dict[str, Any]:
    target = _hint_target(fn)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        if strict:
            raise UserError(
                f"Cannot read the type hints of {_callable_name(fn) or fn!r}: {exc}. Tool "
                "functions' parameter types must be importable from their module (not defined "
                "inside a function when `from __future__ import annotations` is on)."
            ) from exc
        raw = getattr(target, "__annotations__", None)
        return dict(raw) if isinstance(raw, dict) else {}


def _context_param(annotation: Any) -> tuple[bool, bool]:
    """(is this a `RunContext` parameter, may it be None)."""
    if isinstance(annotation, str):  # an unresolved hint on a hand-built Tool
        text = annotation.replace(" ", "")
        if text.rsplit(".", 1)[-1] == "RunContext":
            return True, False
        optional = {"RunContext|None", "None|RunContext", "Optional[RunContext]"}
        return (True, True) if text in optional else (False, False)
    while get_origin(annotation) is Annotated:
        annotation = annotation.__origin__
    if isinstance(annotation, type) and issubclass(annotation, RunContext):
        return True, False
    inner = _without_none(annotation)
    if inner is not _MISSING and isinstance(inner, type) and issubclass(inner, RunContext):
        return True, True
    return False, False


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # An object whose class defines `async def __call__`.
    return (
        callable(fn)
        and not inspect.isroutine(fn)
        and not inspect.isclass(fn)
        and inspect.iscoroutinefunction(type(fn).__call__)
    )


# --------------------------------------------------------------------------------------------------
# Tool
# --------------------------------------------------------------------------------------------------


@dataclass
class Tool:
    """A function a model can call: its name, what it does, its JSON schema, and the callable.

    Build one with `Tool.from_function(fn)` or the `@tool` decorator, which derive the schema from
    type hints and the docstring, or by hand with a raw JSON schema (it is used to validate the
    model's arguments too). A `Tool` stays callable like the function it wraps.
    """

    name: str
    """What the model calls it; must match `^[a-zA-Z0-9_-]{1,64}$` (OpenAI's rule)."""
    description: str
    """What the tool does, for the model to decide when to call it."""
    parameters: dict[str, Any]
    """The JSON schema (an object schema) of the arguments."""
    fn: Callable[..., Any]
    """The callable, sync (run in a worker thread) or async (awaited)."""
    timeout: float | None = None
    """Seconds a call may take before it is abandoned as a `timeout` error; None for no limit."""

    _converters: dict[str, Converter] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _context_param: str | None = field(default=None, init=False, repr=False, compare=False)
    _context_optional: bool = field(default=False, init=False, repr=False, compare=False)
    _is_async: bool = field(default=False, init=False, repr=False, compare=False)
    _positional_only: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _signature: inspect.Signature | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.description, str):
            raise UserError(f"Tool {self.name!r}: `description` must be a str.")
        if not isinstance(self.parameters, dict):
            raise UserError(
                f"Tool {self.name!r}: `parameters` must be a JSON schema dict, e.g. "
                '{"type": "object", "properties": {...}, "required": [...]}.'
            )
        if self.parameters.get("type", "object") != "object":
            raise UserError(
                f"Tool {self.name!r}: `parameters` must be an object schema "
                f'({{"type": "object", ...}}); got type {self.parameters.get("type")!r}.'
            )
        if not callable(self.fn):
            raise UserError(f"Tool {self.name!r}: `fn` must be callable; got {self.fn!r}.")
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not self.timeout > 0
        ):
            raise UserError(
                f"Tool {self.name!r}: `timeout` must be a positive number of seconds or None; "
                f"got {self.timeout!r}."
            )
        self._is_async = _is_async_callable(self.fn)
        try:
            self._signature = inspect.signature(self.fn)
        except (TypeError, ValueError):  # some builtins have none: call with keywords only
            self._signature = None
            return
        hints = _resolve_hints(self.fn, strict=False)
        positional_only: list[str] = []
        for param in self._signature.parameters.values():
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional_only.append(param.name)
            annotation = hints.get(param.name, param.annotation)
            is_context, optional = _context_param(annotation)
            if is_context and self._context_param is None:
                self._context_param = param.name
                self._context_optional = optional or param.default is not param.empty
        self._positional_only = tuple(positional_only)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Build a `Tool` from a function's signature, type hints and docstring.

        The description is the docstring's first paragraph; parameter descriptions come from its
        `Args:` section (or reST `:param x:` fields), or from `Annotated[X, "text"]`, which wins.
        A parameter annotated `RunContext` is left out of the schema and filled in on each call
        with the current run's context.

        Args:
            fn: The function, sync or async.
            name: The tool's name; defaults to the function's `__name__`.
            description: Overrides the docstring's first paragraph.
            timeout: Seconds a call may take; None for no limit.

        Raises:
            UserError: The function takes `*args`/`**kwargs`, uses a type that has no JSON schema
                form, or its name is not a valid tool name.
        """
        if isinstance(fn, Tool):
            tool_obj = fn
            fn = tool_obj.fn
            name = name or tool_obj.name
            description = description if description is not None else tool_obj.description
            timeout = timeout if timeout is not None else tool_obj.timeout
        if not callable(fn):
            raise UserError(f"Tool.from_function needs a callable; got {fn!r}.")
        if name is None:
            name = _callable_name(fn)
            if name is None or not _NAME_RE.fullmatch(name):
                raise UserError(
                    f"Cannot name a tool after {fn!r} (its name {name!r} is not a valid tool "
                    "name); pass name=..., e.g. Tool.from_function(fn, name='my_tool')."
                )
        _check_name(name)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise UserError(f"Tool {name!r}: cannot read the signature of {fn!r}: {exc}.") from exc
        hints = _resolve_hints(fn, strict=True)
        doc_target = fn.func if isinstance(fn, functools.partial) else fn
        summary, param_docs = _parse_docstring(inspect.getdoc(doc_target))

        properties: dict[str, Any] = {}
        required: list[str] = []
        converters: dict[str, Converter] = {}
        for param in signature.parameters.values():
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                star = "*" if param.kind is inspect.Parameter.VAR_POSITIONAL else "**"
                raise UserError(
                    f"Tool {name!r}: `{star}{param.name}` is not supported; a model calls a tool "
                    "with named arguments, so give each one its own typed parameter."
                )
            annotation = hints.get(param.name, Any)
            if _context_param(annotation)[0]:
                continue
            has_default = param.default is not inspect.Parameter.empty
            if has_default and param.default is None:
                inner = _without_none(annotation)
                if inner is not _MISSING:
                    annotation = inner  # Optional[X] = None: an optional X, not a nullable one
            where = f"Tool {name!r}, parameter {param.name!r}"
            schema, conv = _schema_for(annotation, where)
            schema = dict(schema)
            if "description" not in schema and param_docs.get(param.name):
                schema["description"] = param_docs[param.name]
            if has_default:
                default = _json_default(param.default)
                if default is not _MISSING:
                    schema["default"] = default
            else:
                required.append(param.name)
            properties[param.name] = schema
            if conv is not None:
                converters[param.name] = conv

        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            parameters["required"] = required
        parameters["additionalProperties"] = False
        result = cls(
            name=name,
            description=description if description is not None else summary,
            parameters=parameters,
            fn=fn,
            timeout=timeout,
        )
        result._converters = converters
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as if undecorated (a `RunContext` parameter left out is
        filled in with the current run's context)."""
        param = self._context_param
        if param is None or self._signature is None or param in kwargs:
            return self.fn(*args, **kwargs)
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            bound = None
        if bound is not None and param in bound.arguments:
            return self.fn(*args, **kwargs)
        without = self._signature.replace(
            parameters=[p for p in self._signature.parameters.values() if p.name != param]
        )
        arguments = dict(without.bind(*args, **kwargs).arguments)
        arguments[param] = self._run_context(None)
        call_args, call_kwargs = self._split(arguments)
        return self.fn(*call_args, **call_kwargs)

    def to_openai_format(self) -> dict[str, Any]:
        """The tool as OpenAI's `tools=[...]` entry (a fresh copy each time)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": json.loads(json.dumps(self.parameters, default=str)),
            },
        }

    async def execute(
        self, arguments: str | bytes | dict[str, Any] | None = None, *, ctx: Any = None
    ) -> Any:
        """Run one model call of this tool; see `ToolRegistry.execute`."""
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            return self._invalid([parsed])
        values, errors = _check_object(parsed, self.parameters, "", strict=True)
        if errors:
            return self._invalid(errors)
        for key, convert in self._converters.items():
            if key in values:
                try:
                    values[key] = convert(values[key])
                except Exception as exc:  # validated already: only an odd Enum can get here
                    return self._invalid([f"{_label(key)}: {exc}"])
        if self._context_param is not None:
            values[self._context_param] = self._run_context(ctx)
        call_args, call_kwargs = self._split(values)
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                if self._is_async:
                    result = await self.fn(*call_args, **call_kwargs)
                else:
                    result = await asyncio.to_thread(self.fn, *call_args, **call_kwargs)
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError as exc:
            if not deadline.expired():  # the tool's own TimeoutError, not our deadline
                return self._failed(exc)
            logger.warning("Tool %r timed out after %ss", self.name, self.timeout)
            return ToolCallError(
                tool=self.name,
                kind="timeout",
                message=f"no result within {self.timeout:g} seconds; try a smaller request",
            )
        except Exception as exc:
            return self._failed(exc)
        return result

    # -- helpers ----------------------------------------------------------------------------------

    def _run_context(self, ctx: Any) -> Any:
        if ctx is None:
            ctx = current_run_context()
        if ctx is None and not self._context_optional:
            raise UserError(
                f"Tool {self.name!r} takes a RunContext ({self._context_param!r}) but no run is "
                "executing here; call it from inside an agent's run, or pass ctx=..."
            )
        return ctx

    def _split(self, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if not self._positional_only:
            return [], values
        args: list[Any] = []
        for name in self._positional_only:
            if name not in values:
                break
            args.append(values.pop(name))
        return args, values

    def _invalid(self, problems: list[str]) -> ToolCallError:
        message = "; ".join(problems)
        logger.debug("Tool %r got invalid arguments: %s", self.name, message)
        try:
            expected = json.dumps(self.parameters, ensure_ascii=False, default=str)
        except ValueError:
            expected = None
        return ToolCallError(
            tool=self.name,
            kind="invalid_arguments",
            message=_secrets.redact(message),
            expected=expected,
        )

    def _failed(self, exc: Exception) -> ToolCallError:
        text = str(exc)
        message = _secrets.redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        trace = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.warning("Tool %r failed: %s\n%s", self.name, message, _secrets.redact(trace))
        return ToolCallError(tool=self.name, kind="tool_error", message=message)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise UserError(
            f"Invalid tool name {name!r}: use 1 to 64 letters, digits, '_' or '-' "
            "(OpenAI's rule, ^[a-zA-Z0-9_-]{1,64}$)."
        )


def _parse_arguments(arguments: Any) -> dict[str, Any] | str:
    """The model's arguments as a dict, or a message saying why they are not usable."""
    if arguments is None:
        return {}
    if isinstance(arguments, bytes | bytearray):
        try:
            arguments = arguments.decode()
        except UnicodeDecodeError:
            return "arguments are not valid UTF-8 text"
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = loads_bounded(arguments, what="arguments text", max_bytes=MAX_ARGUMENT_BYTES)
        except InvalidInputError as exc:  # names the limit it broke, if it broke one
            return f"{str(exc).rstrip('.')}; send a JSON object"
        if arguments is None:
            return {}
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {_got(arguments)}"
    if value_depth_exceeds(arguments, MAX_DEPTH):
        return f"the arguments nest deeper than {MAX_DEPTH} levels (the limit); send a flatter JSON object"
    return dict(arguments)


# --------------------------------------------------------------------------------------------------
# @tool
# --------------------------------------------------------------------------------------------------


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a `Tool`: `@tool` or `@tool(name=..., description=..., timeout=...)`.

    The decorated name is the `Tool`, still callable like the function.
    """
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description, timeout=timeout)

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool.from_function(func, name=name, description=description, timeout=timeout)

    return decorate


# --------------------------------------------------------------------------------------------------
# ToolRegistry
# --------------------------------------------------------------------------------------------------


class ToolRegistry:
    """The tools available to an agent, by name: what to offer the model and how to run its calls.

    Iterating yields the `Tool`s in registration order; `names` lists their names.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def __repr__(self) -> str:
        return f"<ToolRegistry tools={self.names!r}>"

    def register(self, tool: Tool | Callable[..., Any], *, replace: bool = False) -> Tool:
        """Add a tool (a plain function is wrapped with `Tool.from_function`) and return it.

        Raises:
            UserError: A tool of that name is already registered and `replace` is False.
        """
        if not isinstance(tool, Tool):
            if not callable(tool):
                raise UserError(f"register() needs a Tool or a function; got {tool!r}.")
            tool = Tool.from_function(tool)
        if tool.name in self._tools and not replace:
            raise UserError(
                f"A tool named {tool.name!r} is already registered; pass replace=True to "
                "replace it, or give the new one another name (Tool.from_function(fn, name=...))."
            )
        self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> Tool:
        """Remove the tool called `name` and return it.

        Raises:
            UserError: No tool has that name.
        """
        try:
            return self._tools.pop(name)
        except KeyError:
            raise UserError(
                f"No tool named {name!r} is registered; registered: {self._available()}."
            ) from None

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """The registered tools' names, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Tool):
            return self._tools.get(name.name) is name
        return isinstance(name, str) and name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def to_openai_format(self) -> list[dict[str, Any]]:
        """Every tool as an OpenAI `tools=[...]` entry:
        `{"type": "function", "function": {"name", "description", "parameters"}}`."""
        return [t.to_openai_format() for t in self._tools.values()]

    async def execute(
        self,
        name: str,
        arguments: str | bytes | dict[str, Any] | None = None,
        *,
        ctx: Any = None,
    ) -> Any:
        """Run a model's tool call and return what the tool returned, or a `ToolCallError`.

        The arguments are validated against the tool's schema before the call. An unknown tool,
        arguments that are not a JSON object or do not fit the schema, a tool that raises and a
        tool that exceeds its `timeout` all give a `ToolCallError` (never an exception), whose
        `str()` tells the model how to fix its call. Cancellation still propagates.

        Args:
            name: The tool the model called.
            arguments: Its arguments: the JSON string a model sends, a dict, or None/"" for none.
            ctx: The `RunContext` to pass to a tool that takes one; defaults to the current run's.

        Raises:
            UserError: The tool needs a `RunContext` and none is available (a setup mistake, not
                the model's).
        """
        found = self._tools.get(name) if isinstance(name, str) else None
        if found is None:
            logger.debug("Model called unknown tool %r", name)
            return ToolCallError(
                tool=str(name),
                kind="unknown_tool",
                message=f"there is no tool by that name; available tools: {self._available()}",
            )
        return await found.execute(arguments, ctx=ctx)

    def _available(self) -> str:
        return ", ".join(self._tools) or "none"
