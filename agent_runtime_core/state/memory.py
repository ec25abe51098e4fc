"""An in-process state store, for development and tests."""

from __future__ import annotations

import json
import time
from typing import Any

from .base import check_key, dumps

__all__ = ["InMemoryStateStore"]


class InMemoryStateStore:
    """Keeps checkpoints and values in this process's memory (lost when it exits).

    Values are stored as JSON text, like the persistent backends do, so code that works here does
    not break on SQLite or Redis, and later changes to a saved dict do not leak into the store.
    """

    def __init__(self) -> None:
        self._checkpoints: dict[str, str] = {}
        self._values: dict[str, tuple[str, float | None]] = {}

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
            del self._values[key]
            return None
        return json.loads(raw)

    async def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        check_key(key)
        expires_at = None if ttl_seconds is None else time.time() + ttl_seconds
        self._values[key] = (dumps(value, f"Value for {key!r}"), expires_at)

    async def delete(self, key: str) -> None:
        self._values.pop(check_key(key), None)

    async def list_keys(self, prefix: str = "") -> list[str]:
        now = time.time()
        return sorted(
            k
            for k, (_, expires_at) in self._values.items()
            if k.startswith(prefix) and (expires_at is None or expires_at > now)
        )

    async def close(self) -> None:
        return None
