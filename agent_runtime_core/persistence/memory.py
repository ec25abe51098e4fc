"""`MemoryStore` and `PreferencesStore`: JSON values under keys, per scope.

The built-in backends write both once, on five storage primitives (`_KeyValueStore`), so that every
backend checks keys and scopes the same way and only says how it stores them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from .base import LOOKUP_ORDER, Scope, _not_implemented, check_key, coerce_scope

__all__ = ["MemoryStore", "PreferencesStore"]


class _KeyValueInterface(ABC):
    """What `MemoryStore` and `PreferencesStore` share: JSON values under keys, per scope.

    `get(key)` without a scope looks in SESSION, then PROJECT, then GLOBAL (`LOOKUP_ORDER`);
    writes without a scope go to `default_scope`, which is all the two interfaces differ in
    besides their listing methods.
    """

    default_scope: Scope
    """Where writes go when no scope is given."""

    @abstractmethod
    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        """The value of `key` in `scope`, or None; without a scope, the first in LOOKUP_ORDER."""

    @abstractmethod
    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        """Store `value` (a JSON value) under `key` in `scope` (default `default_scope`)."""

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        """Remove `key` from `scope` (default `default_scope`); True if it was there."""
        raise _not_implemented(self, "delete")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


class MemoryStore(_KeyValueInterface):
    """Key-value memory an agent keeps across runs.

    Values are JSON values. `get(key)` without a scope looks in SESSION, then PROJECT, then
    GLOBAL (`LOOKUP_ORDER`); `set` without a scope writes to PROJECT. A backend that keys data by
    its own context (a user, a tenant) may ignore `scope`.

    Required: `get`, `set`. Optional: `delete`, `list_keys`, `clear`.
    """

    default_scope: Scope = Scope.PROJECT
    """Where writes go when no scope is given."""

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        """Keys in `scope` starting with `prefix`, sorted; without a scope, of every scope."""
        raise _not_implemented(self, "list_keys")

    async def clear(self, scope: Scope | str | None = None) -> None:
        """Remove every key of `scope` (default PROJECT)."""
        raise _not_implemented(self, "clear")


class PreferencesStore(_KeyValueInterface):
    """User and agent settings (theme, language, default model).

    Like `MemoryStore`, but writes without a scope go to GLOBAL: preferences follow the user from
    project to project unless set for one project or one session. `get(key)` without a scope looks
    in SESSION, then PROJECT, then GLOBAL.

    Required: `get`, `set`. Optional: `delete`, `get_all`.
    """

    default_scope: Scope = Scope.GLOBAL
    """Where writes go when no scope is given."""

    async def get_all(self, scope: Scope | str | None = None) -> dict[str, Any]:
        """Every preference of `scope`; without a scope, all merged (SESSION wins over PROJECT
        wins over GLOBAL)."""
        raise _not_implemented(self, "get_all")


class _KeyValueStore(_KeyValueInterface):
    """Memory and preferences written once, on five primitives a backend supplies.

    The public methods (documented on the interfaces) validate the key, resolve the scope
    (`default_scope` for writes, `LOOKUP_ORDER` for reads without one) and call the primitives,
    which get ready-made `Scope`s: so every backend checks keys and scopes the same way and only
    says how it stores them.
    """

    @abstractmethod
    async def _kv_get(self, key: str, scopes: Sequence[Scope]) -> Any | None:
        """The value of `key` in the first of `scopes` that has it, or None."""

    @abstractmethod
    async def _kv_set(self, key: str, value: Any, scope: Scope) -> None:
        """Store `value` under `key` in `scope`; a `UserError` if it is not a JSON value."""

    @abstractmethod
    async def _kv_delete(self, key: str, scope: Scope) -> bool:
        """Remove `key` from `scope`; True if it was there."""

    @abstractmethod
    async def _kv_all(self, scopes: Sequence[Scope]) -> dict[str, Any]:
        """Every key of `scopes` merged, later scopes winning over earlier ones."""

    @abstractmethod
    async def _kv_clear(self, scope: Scope) -> None:
        """Remove every key of `scope`."""

    def _scope(self, scope: Scope | str | None) -> Scope:
        return coerce_scope(scope, self.default_scope)

    def _lookup_scopes(self, scope: Scope | str | None) -> tuple[Scope, ...]:
        """Where a read looks, first match wins: `scope`, or LOOKUP_ORDER without one."""
        return LOOKUP_ORDER if scope is None else (self._scope(scope),)

    def _merge_scopes(self, scope: Scope | str | None) -> tuple[Scope, ...]:
        """What a merged read combines: `scope`, or every scope broadest first (narrower win)."""
        return tuple(reversed(LOOKUP_ORDER)) if scope is None else (self._scope(scope),)

    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        check_key(key)
        return await self._kv_get(key, self._lookup_scopes(scope))

    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        check_key(key)
        await self._kv_set(key, value, self._scope(scope))

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        check_key(key)
        return await self._kv_delete(key, self._scope(scope))


class _KeyValueMemoryStore(_KeyValueStore, MemoryStore):
    """A `MemoryStore` built on the `_KeyValueStore` primitives (the built-in backends' own)."""

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        keys = await self._kv_all(self._merge_scopes(scope))
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))

    async def clear(self, scope: Scope | str | None = None) -> None:
        await self._kv_clear(self._scope(scope))


class _KeyValuePreferencesStore(_KeyValueStore, PreferencesStore):
    """A `PreferencesStore` built on the `_KeyValueStore` primitives (the built-in backends' own)."""

    async def get_all(self, scope: Scope | str | None = None) -> dict[str, Any]:
        return await self._kv_all(self._merge_scopes(scope))
