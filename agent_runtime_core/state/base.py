"""The `StateStore` protocol: run checkpoints plus a small key-value store."""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from ..errors import UserError

__all__ = ["MAX_KEY_LENGTH", "StateStore", "check_key", "dumps"]

MAX_KEY_LENGTH = 1024


@runtime_checkable
class StateStore(Protocol):
    """Where runs keep what must survive them: checkpoints and other JSON state.

    Values must be JSON-serializable; every backend stores a copy, never a reference, so a value
    changed after saving does not change what was saved.
    """

    async def save_checkpoint(self, run_id: str, state: dict[str, Any]) -> None:
        """Replace the run's checkpoint with `state`."""
        ...

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The run's last checkpoint, or None."""
        ...

    async def delete_checkpoint(self, run_id: str) -> None:
        """Forget the run's checkpoint (no error if there is none)."""
        ...

    async def get(self, key: str) -> Any | None:
        """The value stored under `key`, or None (also once its TTL has passed)."""
        ...

    async def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl_seconds` if given."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` (no error if absent)."""
        ...

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Keys (not expired) that start with `prefix`, sorted."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


def check_key(key: Any, what: str = "key") -> str:
    """Validate a key or run id: a non-empty string, at most 1024 characters, no NUL."""
    if not isinstance(key, str) or not key:
        raise UserError(f"`{what}` must be a non-empty string; got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise UserError(f"`{what}` is longer than {MAX_KEY_LENGTH} characters.")
    if "\x00" in key:
        raise UserError(f"`{what}` must not contain NUL characters.")
    return key


def dumps(value: Any, what: str) -> str:
    """JSON-encode a value to store, with an error that names what could not be encoded."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise UserError(
            f"{what} must be JSON-serializable (dicts, lists, strings, numbers, booleans, None): {e}"
        ) from None
