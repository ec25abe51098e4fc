"""Keeps secrets out of reprs, errors, events and traces.

Known secret values (the API keys in the configuration) are replaced wherever text leaves the
runtime; strings that look like provider keys or bearer tokens are masked too, since a secret may
reach an error message by a path we do not control (a provider's error text, a user's exception).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "mask", "redact", "register_secret"]

MASK = "***"

# Provider key shapes (OpenAI `sk-...`, Anthropic `sk-ant-...`, Langfuse `pk-lf-`/`sk-lf-`) and
# HTTP bearer/basic credentials.
_PATTERNS = re.compile(
    r"(?:\b(?:sk|pk|rk)-[A-Za-z0-9][A-Za-z0-9_\-]{6,})"
    r"|(?:(?<=Bearer )[A-Za-z0-9._\-~+/]{8,}=*)"
    r"|(?:(?<=Basic )[A-Za-z0-9+/]{8,}=*)"
    r"|(?:(?<=://)[^/\s:@]*:[^/\s@]+(?=@))"  # user:password@ (or :password@) in URLs
)

_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it everywhere from now on."""
    if value and len(value) >= 4:
        _known.add(value)


def mask(value: str | None) -> str | None:
    """How a secret shows in a repr: `None` if unset, else `'***'`."""
    return None if value is None else MASK


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Return `text` with every known secret and every key-shaped string masked."""
    if not text:
        return text
    for secret in (*_known, *extra):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return _PATTERNS.sub(MASK, text)
