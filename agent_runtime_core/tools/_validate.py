"""A tool call's arguments checked against the tool's JSON schema: a JSON-schema subset, in plain
Python, whose messages tell the model what was wrong and what was expected."""

from __future__ import annotations

import json
import math
from typing import Any, Final

from .._json import MAX_ARGUMENT_BYTES, MAX_DEPTH, loads_bounded, value_depth_exceeds
from ..errors import InvalidInputError

__all__ = ["Invalid", "check", "check_object", "got", "json_type_of", "label", "parse_arguments"]

_MISSING: Final = object()

_TYPE_WORDS: Final[dict[str, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


class Invalid(Exception):
    """One reason an argument does not fit its schema (internal; becomes a ToolCallError)."""


def json_type_of(value: Any) -> str:
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


def got(value: Any) -> str:
    kind = json_type_of(value)
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


def label(path: str) -> str:
    return f"argument {path!r}" if path else "value"


def check(value: Any, schema: Any, path: str) -> Any:
    """Validate `value` against `schema`; return it (integral floats made ints) or raise `Invalid`."""
    if schema is True or schema is None:
        return value
    if schema is False:
        raise Invalid(f"{label(path)} is not allowed")
    if not isinstance(schema, dict):
        return value
    alternatives = schema.get("anyOf")
    if alternatives is None:
        alternatives = schema.get("oneOf")
    if isinstance(alternatives, list) and alternatives:
        for option in alternatives:
            try:
                value = check(value, option, path)
                break
            except Invalid:
                continue
        else:
            raise Invalid(f"{label(path)} must be {_describe(schema)}, got {got(value)}")
    if "const" in schema and not _in_enum(value, [schema["const"]]):
        raise Invalid(f"{label(path)} must be {_describe(schema)}, got {got(value)}")
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
            raise Invalid(f"{label(path)} must be {expected}, got {got(value)}")
    allowed = schema.get("enum")
    if isinstance(allowed, list) and not _in_enum(value, allowed):
        raise Invalid(f"{label(path)} must be one of {_preview(allowed)}, got {got(value)}")
    if isinstance(value, dict) and (
        "properties" in schema or "required" in schema or "additionalProperties" in schema
    ):
        value, errors = check_object(value, schema, path, strict=False)
        if errors:
            raise Invalid(errors[0])
    elif isinstance(value, list | tuple):
        value = _check_array(value, schema, path)
    return value


def _check_array(value: list[Any] | tuple[Any, ...], schema: dict[str, Any], path: str) -> Any:
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    if isinstance(min_items, int) and len(value) < min_items:
        raise Invalid(f"{label(path)} must have at least {min_items} items, got {len(value)}")
    if isinstance(max_items, int) and len(value) > max_items:
        raise Invalid(f"{label(path)} must have at most {max_items} items, got {len(value)}")
    prefix = schema.get("prefixItems")
    prefix = prefix if isinstance(prefix, list) else []
    items = schema.get("items")
    if not prefix and (items is None or items is True or items == {}):
        return value
    out = []
    for index, item in enumerate(value):
        item_schema = prefix[index] if index < len(prefix) else items
        out.append(check(item, item_schema, f"{path}[{index}]"))
    return out if isinstance(value, list) else tuple(out)


def check_object(
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
    errors = [f"missing required {label(prefix + r)}" for r in required if r not in value]
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
            out[key] = check(item, sub, prefix + key)
        except Invalid as exc:
            errors.append(str(exc))
    if unexpected:
        names = ", ".join(repr(prefix + k) for k in unexpected)
        known = ", ".join(repr(k) for k in properties) or "none"
        noun = "argument" if len(unexpected) == 1 else "arguments"
        errors.append(f"unexpected {noun} {names} (allowed: {known})")
    return out, errors


# A model's arguments over 1 MB (`_json.MAX_ARGUMENT_BYTES`), nested deeper than 128 levels
# (`_json.MAX_DEPTH`), or holding an integer of more than 4300 digits come back to the model as a
# `ToolCallError` naming the limit.


def parse_arguments(arguments: Any) -> dict[str, Any] | str:
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
        return f"arguments must be a JSON object, got {got(arguments)}"
    if value_depth_exceeds(arguments, MAX_DEPTH):
        return f"the arguments nest deeper than {MAX_DEPTH} levels (the limit); send a flatter JSON object"
    return dict(arguments)
