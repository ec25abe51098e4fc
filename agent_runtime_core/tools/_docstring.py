"""Parameter descriptions from a tool function's docstring (Google `Args:` or reST `:param:`)."""

from __future__ import annotations

import inspect
import re
from typing import Final

__all__ = ["parse_docstring"]

_SECTION_RE: Final = re.compile(r"^([A-Za-z][A-Za-z ]{1,30}):\s*$")
_ARG_SECTIONS: Final = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "kwargs"}
)
_GOOGLE_ARG_RE: Final = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM_RE: Final = re.compile(r"^:param\s+(?:[^:]*?\s)?\*{0,2}(\w+)\s*:\s*(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
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
