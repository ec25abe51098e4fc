"""The `StateStore` protocol: run checkpoints plus a small key-value store."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .._json import MAX_STORED_BYTES, dumps_bounded, loads_bounded
from .._keys import check_key as _check_key
from .._secrets import may_hold_secret, redact_value
from ..errors import CorruptDataError, UserError

__all__ = ["MAX_KEY_LENGTH", "StateStore", "check_key", "dumps", "loads"]

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
    """Validate a key or run id: a non-empty string of at most 1024 characters, valid Unicode text
    (no lone surrogate) without control characters (NUL, newline, DEL...). The check is shared with
    the persistence stores (`agent_runtime_core._keys`)."""
    return _check_key(key, what, max_length=MAX_KEY_LENGTH)


def dumps(value: Any, what: str) -> str:
    """JSON-encode a value to store, with a `UserError` that names what could not be encoded or
    which limit it broke (`MAX_DEPTH` levels, `MAX_STORED_BYTES`): what is stored can be read back
    by `loads`.

    This is the redaction boundary of everything stored (checkpoints, results, adapters' state):
    when the JSON may hold a secret, the value is redacted and encoded again, so no configured
    secret and no key-shaped string reaches a store's bytes."""
    text = dumps_bounded(value, what=what, error=UserError)
    if may_hold_secret(text):
        clean = redact_value(value)
        if clean is not value:
            text = dumps_bounded(clean, what=what, error=UserError)
    return text


def loads(raw: str | bytes, what: str) -> Any:
    """Read back a stored value, within the same limits (a damaged or foreign record raises
    `CorruptDataError` naming what and why, instead of `RecursionError` or `UnicodeDecodeError`)."""
    return loads_bounded(raw, what=what, max_bytes=MAX_STORED_BYTES, error=CorruptDataError)
