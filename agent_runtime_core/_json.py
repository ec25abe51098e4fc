"""Bounded JSON: one loader (and one dumper) for every place where data enters the runtime.

Queue payloads, a model's tool arguments, resume answers and stored records all go through
`loads_bounded`, which checks, in this order and before the stdlib parser recurses into anything:

1. size: at most `max_bytes` bytes of UTF-8 (bytes are decoded here, strictly: a payload that is
   not UTF-8 text is an error for that payload alone);
2. nesting: at most `max_depth` levels of arrays and objects;
3. numbers: integer literals of at most `MAX_INT_DIGITS` digits, no float that overflows to
   infinity, no `NaN` / `Infinity` (not JSON, and unstorable: every writer uses `allow_nan=False`);
4. text: no lone surrogate escape (`"\\udc80"`), which no backend can encode.

Each failure is an `InvalidInputError` (or the class passed as `error=`) whose message names
what was being read and the limit it broke.

Why a text scan for depth instead of only catching `RecursionError`: the stdlib parser recurses
once per level and the depth where it gives up depends on how deep the caller's stack already is
(about 1000 levels), so it is not a limit one can document, and a parse that nearly reaches it
takes a large share of the stack. The scan skips JSON strings and counts the brackets left with
`bytes` methods (C speed, linear, no recursion), and runs only when the text holds more brackets
than `max_depth` at all (a common small payload skips it). `RecursionError` is still caught, as a
second guard. The checks are written here because no maintained library offers a depth limit for
the stdlib's `json` (orjson refuses nesting beyond a fixed 1024 levels, and would be a dependency).
Numbers are checked by cheap scans first; the parser's per-number hooks (slower) run only when a
long digit run or a three-digit exponent appears.

`dumps_bounded` is the writer's twin: what it accepts, `loads_bounded` reads back, so a store
never writes a record it could not read.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
import sys
from collections.abc import Callable
from typing import Any

from .errors import InvalidInputError

__all__ = [
    "MAX_ARGUMENT_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_STORED_BYTES",
    "check_json_value",
    "check_text_bounds",
    "dumps_bounded",
    "json_depth_exceeds",
    "loads_bounded",
    "redacted_prefix",
    "value_depth_exceeds",
]

MAX_DEPTH = 128
"""Deepest nesting of arrays and objects accepted anywhere. Agent inputs, tool arguments and
checkpoints nest under 20 levels (messages with tool calls: 6); the stdlib parser fails near 1000."""

MAX_INT_DIGITS = 4300
"""Longest integer literal: CPython's own default `sys.get_int_max_str_digits()`, enforced here
whatever the interpreter is set to (converting longer literals takes quadratic time)."""

MAX_ARGUMENT_BYTES = 1_000_000
"""Largest tool-call arguments (JSON text from a model) parsed: 1 MB."""

MAX_STORED_BYTES = 64 * 1024 * 1024
"""Largest stored record (a state value, a checkpoint, a persistence record): 64 MB of JSON."""

# The checks below run on the UTF-8 bytes (C-speed `bytes` methods; a multi-byte character never
# contains a quote, backslash, bracket or digit byte), before the parser sees the text.
#
# Depth: drop escapes (a backslash and the byte after it: JSON pairs them from the left, as this
# does), keep only quotes and brackets, drop what lies between quote pairs (strings; an unterminated
# string runs to the end), and the brackets left are the structure. Opening brackets then become
# 2 and closing ones 0: the running sum minus the count is the depth at each bracket.
_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKET_STEP = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")
# Numbers that may overflow a float or exceed the digit limit: only then are the (slower)
# per-number hooks used. The text is mapped to its "number shape" (digits -> 0, e/E -> e, + and -
# kept, anything else a space) and searched for a run of 300 digits (a float needs 309 to
# overflow, an int 4301 to break the limit) or an exponent of three digits. A match inside a
# string only costs the slower parse: the hooks check the real numbers.
_NUMBER_SHAPE = bytes(
    48 if 48 <= b <= 57 else 101 if b in b"eE" else b if b in b"+-" else 32 for b in range(256)
)
_RISKY_SHAPES = (b"0" * 300, b"e000", b"e+000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    """Raised from inside the parser's hooks; turned into the caller's error class."""


def json_depth_exceeds(text: str | bytes, max_depth: int) -> bool:
    """True when the JSON `text` nests arrays and objects deeper than `max_depth` levels.

    Linear, without recursion, at C speed (`bytes` methods and iterators; about the time of
    `json.loads` itself on bracket-heavy text, nothing when the text holds fewer brackets than
    `max_depth`). Strings are skipped as the parser reads them, so for any text the answer is that
    of the part the parser reads before it would stop at an error.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    outside_strings = b"".join(data.translate(None, _NOT_STRUCTURE).split(b'"')[0::2])
    steps = outside_strings.translate(_BRACKET_STEP)
    depths = map(operator.sub, itertools.accumulate(steps), itertools.count(1))
    return max(depths, default=0) > max_depth


def _risky_numbers(data: bytes) -> bool:
    shape = data.translate(_NUMBER_SHAPE)
    return any(risky in shape for risky in _RISKY_SHAPES)


def value_depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when a Python value (dicts, lists and tuples) nests deeper than `max_depth` levels, as
    its JSON would; iterative, so any depth is safe to ask about."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return False


def redacted_prefix(data: bytes | str, limit: int = 40) -> str:
    """A short, printable, redacted start of `data`, for logs and errors about input that could not
    be read (never the whole payload: it may hold secrets or be huge)."""
    from ._secrets import redact

    if isinstance(data, bytes | bytearray | memoryview):
        text = bytes(data[: limit * 4]).decode("utf-8", "backslashreplace")
    else:
        text = data[: limit * 4]
    shown = redact(text).encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown[:limit] + ("..." if len(shown) > limit or len(data) > limit * 4 else "")


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"holds an integer of more than {MAX_INT_DIGITS} digits (the limit)")
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        shown = literal if len(literal) <= 20 else literal[:20] + "..."
        raise _Refused(f"holds a number too large for a float ({shown})")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"holds {name}, which is not JSON (numbers must be finite)")


def _check_strings(value: Any) -> None:
    """Raise `_Refused` if any string in `value` (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                bad = item[e.start : e.start + 1].encode("utf-8", "backslashreplace").decode()
                raise _Refused(
                    f"holds a lone surrogate ({bad}), which is not valid Unicode text"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _utf8(text: str, what: str, error: type[Exception]) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error(
            f"{what} is not valid Unicode text: a lone surrogate at character {e.start}."
        ) from None


def loads_bounded(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    error: type[Exception] = InvalidInputError,
) -> Any:
    """Parse JSON that came from outside, within limits; see the module docstring.

    Args:
        data: The JSON text, as bytes (UTF-8) or str.
        what: What is being read, for the error message (e.g. "The queued payload of run 'x'").
        max_bytes: Largest accepted size in bytes of UTF-8.
        max_depth: Deepest accepted nesting of arrays and objects.
        error: The exception class to raise (default `InvalidInputError`).

    Raises:
        InvalidInputError: (or `error`) the data is over a limit, not UTF-8, or not JSON.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise error(f"{what} is {len(raw)} bytes, over the limit of {max_bytes} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(
                f"{what} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})."
            ) from None
    elif isinstance(data, str):
        if len(data) > max_bytes:  # a character is at least one byte
            raise error(f"{what} is over the limit of {max_bytes} bytes.")
        raw = _utf8(data, what, error)
        if len(raw) > max_bytes:
            raise error(f"{what} is {len(raw)} bytes, over the limit of {max_bytes} bytes.")
        text = data
    else:
        raise error(f"{what} must be JSON text (str or bytes); got {type(data).__name__}.")
    if json_depth_exceeds(raw, max_depth):
        raise error(f"{what} nests arrays or objects deeper than {max_depth} levels (the limit).")
    hooks: dict[str, Any] = {"parse_constant": _constant}
    if _risky_numbers(raw):
        hooks.update(parse_int=_int, parse_float=_float)
    try:
        value = json.loads(text, **hooks)
        if _SURROGATE_ESCAPE.search(raw):
            _check_strings(value)
    except _Refused as e:
        raise error(f"{what} {e}.") from None
    except RecursionError:  # cannot happen after the scan above; kept as a second guard
        raise error(f"{what} nests arrays or objects deeper than {max_depth} levels (the limit).") from None
    except ValueError as e:  # JSONDecodeError, or the interpreter's own integer digit limit
        raise error(f"{what} is not valid JSON: {e}.") from None
    return value


def dumps_bounded(
    value: Any,
    *,
    what: str,
    max_bytes: int = MAX_STORED_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[Exception] = InvalidInputError,
    indent: int | None = None,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """Encode `value` as compact JSON that `loads_bounded` (same limits) will read back.

    Raises:
        InvalidInputError: (or `error`) the value is not JSON-ready (a set, an object, NaN, a lone
            surrogate), nests deeper than `max_depth`, or its JSON is over `max_bytes`.
    """
    separators = (",", ":") if indent is None else (",", ": ")
    try:
        text = json.dumps(
            value, separators=separators, ensure_ascii=False, allow_nan=False, indent=indent, default=default
        )
    except RecursionError:
        raise error(f"{what} nests deeper than {max_depth} levels (the limit), or refers to itself.") from None
    except (TypeError, ValueError) as e:
        raise error(
            f"{what} must be JSON-serializable (dicts, lists, strings, finite numbers, booleans, "
            f"None): {e}"
        ) from None
    raw = check_text_bounds(text, what=what, max_bytes=max_bytes, max_depth=max_depth, error=error)
    # An int of more digits than MAX_INT_DIGITS is the only number `json.dumps` writes that the
    # loader refuses (a finite float's repr never overflows), and `json.dumps` already refused it
    # if the interpreter's own digit limit is at most ours (the default: both 4300). Only when
    # that limit was raised or lifted is the scan (a few µs per KB) needed.
    if not 0 < sys.get_int_max_str_digits() <= MAX_INT_DIGITS and _risky_numbers(raw):
        loads_bounded(raw, what=what, max_bytes=max_bytes, max_depth=max_depth, error=error)
    return text


def check_text_bounds(
    text: str,
    *,
    what: str,
    max_bytes: int = MAX_STORED_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[Exception] = InvalidInputError,
) -> bytes:
    """Check JSON text a writer produced against the limits `loads_bounded` will apply when it is
    read back (Unicode text, size in UTF-8, nesting); return it as UTF-8."""
    if len(text) > max_bytes:
        raise error(f"{what} is over the limit of {max_bytes} bytes of JSON.")
    raw = _utf8(text, what, error)
    if len(raw) > max_bytes:
        raise error(f"{what} is over the limit of {max_bytes} bytes of JSON.")
    if json_depth_exceeds(raw, max_depth):
        raise error(f"{what} nests arrays or objects deeper than {max_depth} levels (the limit).")
    return raw


def check_json_value(
    value: Any,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    error: type[Exception] = InvalidInputError,
) -> int:
    """Check that an in-process value (a resume answer, a dict of tool arguments) is JSON-ready and
    within the limits; return the size of its JSON in bytes."""
    text = dumps_bounded(value, what=what, max_bytes=max_bytes, max_depth=max_depth, error=error)
    return len(text.encode("utf-8"))
