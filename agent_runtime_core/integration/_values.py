"""Framework values as our payloads want them: message text, JSON data, token usage, error texts.

Written once here for every adapter (each framework has its own message, content-part and usage
shapes; these functions read them all by duck typing, without importing any framework).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
from collections.abc import Mapping
from typing import Any

from .. import ErrorInfo
from ..errors import RunCancelledError

__all__ = [
    "error_info",
    "error_payload",
    "error_text",
    "message_text",
    "result_text",
    "to_jsonable",
    "usage_of",
]

_TEXT_PART_TYPES = frozenset({"text", "output_text", "input_text"})


def message_text(value: Any) -> str:
    """The plain text of a message or its content, whatever the framework: a string; a list of
    content parts (strings, `{"type": "text", "text": ...}` dicts, OpenAI `output_text` /
    `refusal` parts, objects with `.text`); a message dict (`{"role": ..., "content": ...}`) or
    object with `.content` (a LangChain message, an OpenAI Responses output message). Parts that
    are not text (images, tool calls) are left out; '' when there is no text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "".join(_part_text(part) for part in value)
    if isinstance(value, Mapping):
        if "content" in value:
            return message_text(value["content"])
        return _part_text(value)
    content = getattr(value, "content", None)
    if content is not None:
        return message_text(content)
    text = getattr(value, "text", None)
    return text if isinstance(text, str) else ""


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind is None or kind in _TEXT_PART_TYPES:
            text = part.get("text")
            if isinstance(text, str):
                return text
        refusal = part.get("refusal")
        return refusal if isinstance(refusal, str) else ""
    for name in ("text", "refusal"):
        text = getattr(part, name, None)
        if isinstance(text, str):
            return text
    return ""


_PLAIN = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> Any:
    """`value` as JSON data: dicts (string keys), lists, strings, numbers, booleans, None.

    Plain data comes back as it is (no copy); pydantic models are dumped, dataclasses, tuples,
    sets and enums converted, anything else becomes its `str()`."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            new = to_jsonable(item)
            if new is not item or type(key) is not str:
                if changed is None:
                    changed = {str(k): v for k, v in value.items()}
                changed[str(key)] = new
        return value if changed is None else changed
    if kind is list:
        items: list[Any] | None = None
        for i, item in enumerate(value):
            new = to_jsonable(item)
            if new is not item:
                if items is None:
                    items = list(value)
                items[i] = new
        return value if items is None else items
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return to_jsonable(dict(value))
    if isinstance(value, tuple | list | set | frozenset):
        return to_jsonable(list(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"))
        except Exception:  # a model that cannot dump itself: its text
            return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return str(value)


def result_text(result: Any) -> str:
    """A tool's result as TOOL_RESULT carries it: a string as it is; a message or a list of
    content parts by its text (when it has any); anything else as JSON."""
    if isinstance(result, str):
        return result
    if result is None:
        return ""
    if isinstance(result, list | tuple) or hasattr(result, "content"):
        text = message_text(result)
        if text:
            return text
        if hasattr(result, "content") and not isinstance(result, Mapping):
            result = result.content
    return json.dumps(to_jsonable(result), ensure_ascii=False)


def usage_of(usage: Any) -> tuple[dict[str, int], bool]:
    """`({"input_tokens": n, "output_tokens": m}, reported)` from any framework's usage: a dict or
    an object with `input_tokens`/`output_tokens` (or `prompt_tokens`/`completion_tokens`).
    Gemini's `prompt_token_count`/`candidates_token_count` (Google ADK, google-genai) count too.
    `reported` is False when there was none (the counts are then 0)."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}, False
    get = usage.get if isinstance(usage, Mapping) else lambda name: getattr(usage, name, None)
    inp = _first(get, "input_tokens", "prompt_tokens", "prompt_token_count")
    out = _first(get, "output_tokens", "completion_tokens", "candidates_token_count")
    reported = _count(inp) is not None or _count(out) is not None
    return {"input_tokens": _count(inp) or 0, "output_tokens": _count(out) or 0}, reported


def _first(get: Any, *names: str) -> Any:
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0, int(value))
    return None


def error_info(error: BaseException | ErrorInfo | Mapping[str, Any] | str) -> ErrorInfo:
    """One error shape for every failure: an exception (a cancellation becomes a non-retriable
    `RunCancelledError`), an `ErrorInfo`, its dict, or a message."""
    if isinstance(error, ErrorInfo):
        return error
    if isinstance(error, BaseException):
        if isinstance(error, RunCancelledError | asyncio.CancelledError):
            return ErrorInfo(type="RunCancelledError", message="The run was cancelled.", retriable=False)
        return ErrorInfo.from_exception(error)
    if isinstance(error, Mapping):
        return ErrorInfo.from_dict(dict(error))
    return ErrorInfo(type="Error", message=str(error))


def error_payload(info: ErrorInfo) -> dict[str, Any]:
    """The `error` of STEP_FAILED and LLM_CALL_FAILED: `type`, `message`, `retriable`, and
    `details` when there are any (no traceback: the run's RUN_FAILED carries it)."""
    payload: dict[str, Any] = {"type": info.type, "message": info.message, "retriable": info.retriable}
    if info.details:
        payload["details"] = info.details
    return payload


def error_text(error: BaseException | ErrorInfo | str) -> str:
    """The `error` of TOOL_RESULT: a message as it is, an exception as `"<Type>: <message>"`."""
    if isinstance(error, str):
        return error
    if isinstance(error, ErrorInfo):
        return f"{error.type}: {error.message}" if error.message else error.type
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
