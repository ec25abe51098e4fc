"""What may leave the process in a trace: redacted, bounded text, and content only on opt-in."""

from __future__ import annotations

import json
import os
from typing import Any

from agent_runtime_core import _secrets

__all__ = ["CONTENT_ENV_VAR", "MAX_ATTRIBUTE_CHARS", "content_enabled", "redacted_text"]

CONTENT_ENV_VAR = "AGENT_RUNTIME_TRACE_CONTENT"
"""Set to `1`/`true` to record prompts, completions, tool arguments and results in traces."""

MAX_ATTRIBUTE_CHARS = 8192
"""Longer text is cut (backends reject or truncate huge attributes anyway)."""

_TRUE = {"1", "true", "yes", "on"}


def content_enabled(explicit: bool | None) -> bool:
    """`explicit` when given, else whether `AGENT_RUNTIME_TRACE_CONTENT` is set to a true value."""
    if explicit is not None:
        return explicit
    return os.environ.get(CONTENT_ENV_VAR, "").strip().lower() in _TRUE


def redacted_text(value: Any, limit: int = MAX_ATTRIBUTE_CHARS) -> str:
    """`value` as text (JSON for non-strings), secrets masked, at most `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > limit * 2:  # redact what is kept, not megabytes that are cut anyway
        text = text[: limit * 2]
    text = _secrets.redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
