"""Keeps secrets out of reprs, errors, events and traces.

Known secret values (the API keys in the configuration, passwords in URLs) are replaced wherever
text leaves the runtime; strings that look like provider keys or bearer tokens are masked too,
since a secret may reach an error message by a path we do not control (a provider's error text, a
user's exception). `redact` masks one text, `redact_value` every string inside a JSON-like value,
and `StreamRedactor` a text that arrives in pieces (streamed model output).

Cost: every function first asks `may_hold_secret`, a few substring searches at C speed (one per
known secret, four for the key shapes' markers); only text that passes it meets the regular
expression, and only a value that holds such text is copied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MASK",
    "StreamRedactor",
    "mask",
    "hold_from",
    "may_hold_secret",
    "redact",
    "redact_value",
    "register_secret",
]

MASK = "***"

# Provider key shapes (OpenAI `sk-...`, Anthropic `sk-ant-...`, Langfuse `pk-lf-`/`sk-lf-`) and
# HTTP bearer/basic credentials.
_PATTERNS = re.compile(
    r"(?:\b(?:sk|pk|rk)-[A-Za-z0-9][A-Za-z0-9_\-]{6,})"
    r"|(?:(?<=Bearer )[A-Za-z0-9._\-~+/]{8,}=*)"
    r"|(?:(?<=Basic )[A-Za-z0-9+/]{8,}=*)"
    r"|(?:(?<=://)[^/\s:@]*:[^/\s@]+(?=@))"  # user:password@ (or :password@) in URLs
)
# Every match of `_PATTERNS` contains one of these: text without them needs no regex.
_MARKERS = ("k-", "Bearer ", "Basic ", "://")

_known: set[str] = set()
"""The secret values to mask, with the JSON-escaped form of those that JSON escapes."""
_ordered: tuple[str, ...] = ()  # `_known`, longest first (a secret inside another: the longer first)


def _secrets() -> tuple[str, ...]:
    """`_known` as a tuple, longest first: iterated without a lock while another thread may add
    to the set (`sorted` copies it in one step)."""
    global _ordered
    if len(_ordered) != len(_known):  # only ever added to (tests restore a smaller set)
        _ordered = tuple(sorted(_known, key=len, reverse=True))
    return _ordered


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it everywhere from now on."""
    if value and len(value) >= 4:
        _known.add(value)
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if escaped != value:  # a quote, a backslash or a control character: as stored JSON holds it
            _known.add(escaped)


def mask(value: str | None) -> str | None:
    """How a secret shows in a repr: `None` if unset, else `'***'`."""
    return None if value is None else MASK


def may_hold_secret(text: str) -> bool:
    """False when `text` certainly holds no known secret and nothing key-shaped (the fast path);
    True when it may (then `redact` decides). Also true for the JSON-escaped form of a secret, so
    it can vet serialized JSON in one pass."""
    known = _ordered if len(_ordered) == len(_known) else _secrets()
    for secret in known:
        if secret in text:
            return True
    for marker in _MARKERS:  # noqa: SIM110 - a plain loop: any() costs a generator per call
        if marker in text:
            return True
    return False


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Return `text` with every known secret (and each of `extra`) and every key-shaped string
    masked; `text` itself when there is nothing to mask."""
    if not text:
        return text
    for secret in extra:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    if not may_hold_secret(text):
        return text
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return _PATTERNS.sub(MASK, text)


_MAX_DEPTH = 128  # as deep as any store accepts (`_json.MAX_DEPTH`)

# Payload and message keys of our own, which cannot be secrets: not checked (the rest are).
_PLAIN_KEY_WORDS = (
    "name kind model usage input_tokens output_tokens text content tool_call_id arguments result "
    "error type message retriable details traceback step percent agent_key attempt attempts "
    "final_output final_messages response checkpoint_id parent_step provider data role tool_calls "
    "function id call_id response_id finish_reason reason interrupt question status format items "
    "output agent usage_reported delay_seconds interrupted superstep task_index"
)
_PLAIN_KEYS = frozenset(_PLAIN_KEY_WORDS.split())


def redact_value(value: Any) -> Any:
    """`value` with every string inside it redacted (dict keys and values, list and tuple items).
    Copy on write: `value` itself comes back when nothing was masked, and only the containers on
    the way to a masked string are copied.

    Objects that are not JSON data are checked by their `str()`, and replaced by its redacted
    form only when it holds a secret. Below 128 levels of nesting a value is checked as its JSON
    text, and replaced by the redacted text if that holds a secret."""
    known = _ordered if len(_ordered) == len(_known) else _secrets()
    return _walk(value, known, 0)


def _dirty(text: str, known: tuple[str, ...]) -> bool:
    for secret in known:
        if secret in text:
            return True
    for marker in _MARKERS:  # noqa: SIM110 - see may_hold_secret
        if marker in text:
            return True
    return False


def _walk(value: Any, known: tuple[str, ...], depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return redact(value) if _dirty(value, known) else value
    if kind is dict:
        if depth >= _MAX_DEPTH:
            return _redact_deep(value)
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            item_kind = type(item)
            if item_kind is str:
                if not _dirty(item, known):
                    new = item
                else:
                    new = redact(item)
            elif item_kind is int or item is None or item_kind is bool or item_kind is float:
                new = item
            else:
                new = _walk(item, known, depth + 1)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
            if type(key) is str and key not in _PLAIN_KEYS and _dirty(key, known):
                clean = redact(key)
                if clean != key:
                    if changed is None:
                        changed = dict(value)
                    changed[clean] = changed.pop(key)
        return value if changed is None else changed
    if kind is list or kind is tuple:
        if depth >= _MAX_DEPTH:
            return _redact_deep(value)
        items: list[Any] | None = None
        for i, item in enumerate(value):
            new = _walk(item, known, depth + 1)
            if new is not item:
                if items is None:
                    items = list(value)
                items[i] = new
        if items is None:
            return value
        return items if kind is list else tuple(items)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):  # a str subclass (an enum member...): masked as plain text
        return redact(value) if _dirty(value, known) else value
    if isinstance(value, dict | list | tuple):
        plain = dict(value) if isinstance(value, dict) else list(value)
        new = _walk(plain, known, depth)
        return value if new is plain else new
    text = str(value)
    return redact(text) if _dirty(text, known) else value


def _redact_deep(value: Any) -> Any:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return MASK
    return redact(text) if may_hold_secret(text) else value


# A key-shaped run at the very end of a text: it may go on in the next piece.
_KEY_TAIL = re.compile(r"\b[spr](?:k(?:-[A-Za-z0-9_\-]*)?)?\Z")
_TAIL_WINDOW = 512  # keys are shorter than this


class StreamRedactor:
    """Redacts a text that arrives in pieces (a model's streamed deltas), where a secret may be
    split across two pieces.

    `feed(piece)` returns what can be shown now, redacted: the piece, minus a tail that could be
    the beginning of a known secret or of a key-shaped string, which is held back and put before
    the next piece. `flush()` returns what is held (redacted), at the end of the stream. The
    pieces returned, joined, equal the whole text redacted."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    @property
    def holding(self) -> bool:
        """Whether a tail is held back."""
        return bool(self._held)

    def feed(self, piece: str) -> str:
        """What of `piece` (after what was held) can be shown now, redacted."""
        text = self._held + piece if self._held else piece
        cut = hold_from(text)
        self._held = text[cut:]
        shown = text[:cut] if cut < len(text) else text
        return redact(shown) if may_hold_secret(shown) else shown

    def flush(self) -> str:
        """What is held back, redacted; nothing is held afterwards."""
        held, self._held = self._held, ""
        return redact(held)


def hold_from(text: str) -> int:
    """Where the tail of a streamed `text` that could be the start of a secret (one the next piece
    may complete) begins; `len(text)` when nothing need be held back."""
    n = len(text)
    cut = n
    window = max(0, n - _TAIL_WINDOW)
    known = _ordered if len(_ordered) == len(_known) else _secrets()
    for secret in known:
        # A tail that is a proper prefix of the secret: it may be completed by the next piece.
        first, start = secret[0], max(window, n - len(secret) + 1)
        i = text.find(first, start)
        while i != -1:
            if secret.startswith(text[i:]):
                cut = min(cut, i)
                break
            i = text.find(first, i + 1)
    if cut < n:
        # A whole secret that starts before the cut and ends after it is held with the tail.
        for secret in known:
            i = text.find(secret, max(0, cut - len(secret) + 1), n)
            if i != -1 and i < cut:
                cut = i
    match = _KEY_TAIL.search(text, window)
    if match is not None:
        cut = min(cut, match.start())
    return cut
