"""The one key check shared by the state stores, the queues and the persistence stores.

A key is refused, with a `UserError` that says why, when no backend could store it faithfully:
not a string or empty, too long, holding a control character (C0, DEL or C1, NUL included) or a
lone surrogate (`"a\\udc80b"`: not Unicode text, so neither a file name, a SQLite TEXT nor a Redis
key can hold it). `path_safe=True` also refuses what could name a path (`/`, `\\`, `.`, `..`), for
keys that may become file or directory names.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import UserError

__all__ = ["MAX_FILE_NAME_BYTES", "check_key"]

MAX_FILE_NAME_BYTES = 255
"""Longest file name on common file systems (ext4, APFS, NTFS: 255 bytes or UTF-16 units)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_key(
    key: Any,
    what: str = "key",
    *,
    max_length: int = 1024,
    max_bytes: int | None = None,
    path_safe: bool = False,
) -> str:
    """Return `key` if it is a storable key, else raise `UserError` naming `what`.

    Args:
        key: The key to check.
        what: Its name in the error message (e.g. "run_id").
        max_length: Most characters.
        max_bytes: Most bytes once encoded as UTF-8 (e.g. `MAX_FILE_NAME_BYTES`), if limited.
        path_safe: Also refuse `/`, `\\`, `.` and `..`, so the key can never name a path.
    """
    if not isinstance(key, str) or not key:
        raise UserError(f"`{what}` must be a non-empty string; got {_show(key)}.")
    if len(key) > max_length:
        raise UserError(f"`{what}` is {len(key)} characters long, over the limit of {max_length}.")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise UserError(
            f"`{what}` is not valid Unicode text: a lone surrogate at character {e.start} "
            f"({_show(key)}). Keys must be text that encodes as UTF-8."
        ) from None
    if max_bytes is not None and size > max_bytes:
        raise UserError(
            f"`{what}` is {size} bytes in UTF-8, over the limit of {max_bytes} (it becomes a file "
            "name)."
        )
    if _CONTROL.search(key):
        raise UserError(f"`{what}` must not contain control characters such as NUL; got {_show(key)}.")
    if path_safe and ("/" in key or "\\" in key or key in (".", "..")):
        raise UserError(
            f"`{what}` must not contain '/' or '\\\\' nor be '.' or '..'; got {_show(key)}. "
            "Use '.' or ':' to namespace keys (e.g. 'user.name')."
        )
    return key


def _show(key: Any) -> str:
    """A short, ASCII-only repr of a rejected key (it may be long or hostile)."""
    text = ascii(key)
    return text if len(text) <= 80 else text[:77] + "..."
