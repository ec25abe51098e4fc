"""An in-process state store, for development and tests."""

from __future__ import annotations

import json
import time
from typing import Any

from ._sorted_keys import SortedKeys
from .base import check_key, dumps

__all__ = ["InMemoryStateStore"]


class InMemoryStateStore:
    """Keeps checkpoints and values in this process's memory (lost when it exits).

    Values are stored as JSON text, like the persistent backends do, so code that works here does
    not break on SQLite or Redis, and later changes to a saved dict do not leak into the store.

    `list_keys(prefix)` is indexed: the keys are also kept sorted (in chunks, so that adding one
    stays cheap however many there are), and a listing costs a binary search plus the keys it
    returns, not a scan of the whole store (checkpointers list a run's keys several times per
    step, and the store holds every run's).
    """

    def __init__(self) -> None:
        self._checkpoints: dict[str, str] = {}
        self._values: dict[str, tuple[str, float | None]] = {}
        self._sorted = SortedKeys()  # the keys of `_values`, kept in step with it

    def __repr__(self) -> str:
        return f"InMemoryStateStore(checkpoints={len(self._checkpoints)}, keys={len(self._values)})"

    async def save_checkpoint(self, run_id: str, state: dict[str, Any]) -> None:
        check_key(run_id, "run_id")
        self._checkpoints[run_id] = dumps(state, "Checkpoint state")

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        raw = self._checkpoints.get(check_key(run_id, "run_id"))
        return None if raw is None else json.loads(raw)

    async def delete_checkpoint(self, run_id: str) -> None:
        self._checkpoints.pop(check_key(run_id, "run_id"), None)

    async def get(self, key: str) -> Any | None:
        entry = self._values.get(check_key(key))
        if entry is None:
            return None
        raw, expires_at = entry
        if expires_at is not None and expires_at <= time.time():
            self._forget(key)
            return None
        return json.loads(raw)

    async def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        check_key(key)
        expires_at = None if ttl_seconds is None else time.time() + ttl_seconds
        entry = (dumps(value, f"Value for {key!r}"), expires_at)
        if key not in self._values:
            self._sorted.add(key)
        self._values[key] = entry

    async def delete(self, key: str) -> None:
        if check_key(key) in self._values:
            self._forget(key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        now = time.time()
        values = self._values
        found: list[str] = []
        expired: list[str] = []
        for key in self._sorted.with_prefix(prefix):
            expires_at = values[key][1]
            if expires_at is None or expires_at > now:
                found.append(key)
            else:
                expired.append(key)
        for key in expired:
            self._forget(key)
        return found

    def _forget(self, key: str) -> None:
        """Remove a key known to be stored, from the values and the sorted index."""
        del self._values[key]
        self._sorted.remove(key)

    async def close(self) -> None:
        return None
