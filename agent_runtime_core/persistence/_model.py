"""What the persistence models share: UTC datetimes, and `_Model`, the base that normalises a
record's fields on creation and converts it to and from JSON, driven by the field annotations."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Self, get_args, get_origin, get_type_hints
from uuid import UUID

from agent_runtime_core._json import MAX_STORED_BYTES, loads_bounded
from agent_runtime_core.errors import UserError

__all__ = ["_Model", "as_utc", "utcnow"]


def utcnow() -> datetime:
    """The current time, time-zone aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC, aware; a naive datetime is taken to be in UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# -- annotation-driven conversion ----------------------------------------------------------------

_hint_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _hint_cache.get(cls)
    if hints is None:
        all_hints = get_type_hints(cls)
        hints = {f.name: all_hints[f.name] for f in dataclasses.fields(cls)}
        _hint_cache[cls] = hints
    return hints


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (types.UnionType, typing.Union)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """`value` as the annotation `tp` asks for; accepts JSON forms and already-typed values."""
    if tp is Any:
        return value
    if _is_union(tp):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            return _convert(others[0], value, where)
        return value  # e.g. `str | dict | list`: JSON values, kept as they are
    origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise UserError(f"`{where}` must be a list; got {type(value).__name__}.")
        (item_tp,) = get_args(tp)
        converted = [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, list) and all(a is b for a, b in zip(converted, value, strict=True)):
            return value  # keep the caller's list, so later appends to it still count
        return converted
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"`{where}` must be a dict; got {type(value).__name__}.")
        return value
    if tp is UUID:
        if isinstance(value, UUID):
            return value
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                pass
        raise UserError(f"`{where}` must be a UUID (or a UUID string); got {value!r}.")
    if tp is datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise UserError(f"`{where}` is not an ISO 8601 datetime: {value!r}.") from None
        if not isinstance(value, datetime):
            raise UserError(f"`{where}` must be a datetime; got {type(value).__name__}.")
        return as_utc(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise UserError(
                f"`{where}` must be a {tp.__name__} ({allowed}); got {value!r}."
            ) from None
    if isinstance(tp, type) and issubclass(tp, _Model):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return tp.from_dict(value)
        raise UserError(f"`{where}` must be a {tp.__name__} or a dict; got {type(value).__name__}.")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _encode(tp: Any, value: Any) -> Any:
    """`value` (of annotation `tp`) as JSON-ready data; `Any` values are left as they are."""
    if value is None or tp is Any:
        return value
    if isinstance(value, _Model):
        return value.to_dict()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list) and get_origin(tp) is list:
        (item_tp,) = get_args(tp)
        return [_encode(item_tp, v) for v in value]
    if _is_union(tp):
        others = [a for a in get_args(tp) if a is not type(None)]
        if len(others) == 1:
            return _encode(others[0], value)
    return value


class _Model:
    """Shared behaviour of the models: normalisation on creation and the JSON round-trip."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field_name, tp in _hints(type(self)).items():
            value = getattr(self, field_name)
            converted = _convert(tp, value, f"{name}.{field_name}")
            if converted is not value:
                setattr(self, field_name, converted)

    def to_dict(self) -> dict[str, Any]:
        """This record as JSON-ready data (UUIDs and datetimes as strings, enums as values)."""
        return {name: _encode(tp, getattr(self, name)) for name, tp in _hints(type(self)).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record `to_dict()` produced. Keys this version does not know are ignored."""
        if not isinstance(data, Mapping):
            raise UserError(f"{cls.__name__}.from_dict() needs a dict; got {type(data).__name__}.")
        hints = _hints(cls)
        return cls(**{k: v for k, v in data.items() if k in hints})

    def to_json(self) -> str:
        """This record as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """The record `to_json()` produced (text over `MAX_STORED_BYTES`, nested deeper than
        `MAX_DEPTH`, or not JSON raises `UserError`)."""
        return cls.from_dict(
            loads_bounded(text, what=f"The {cls.__name__} JSON", max_bytes=MAX_STORED_BYTES, error=UserError)
        )
