"""The `StateStore` contract: what every state store backend does, as pytest tests."""

from __future__ import annotations

import asyncio

import pytest

from ...errors import UserError
from ...state.base import StateStore
from ._harness import Backends, contract_test

__all__ = ["StateStoreContract"]

Make = Backends[StateStore]


class StateStoreContract:
    """The `StateStore` contract, run against the backends of the `make_state_store` fixture.

    `make_state_store` is a plain fixture returning a factory: called with no argument (in the
    test's event loop), it returns a new, empty store, or an awaitable of one. Each test makes one
    store and closes it at the end.

    Collected where a conftest.py defines `make_state_store` (the pytest plugin of
    `agent_runtime_core.testing.contracts`), or in a test module by subclassing:
    `class TestMyStore(StateStoreContract): ...`.
    """

    contract_timeout: float = 60.0
    """Seconds each test may take."""

    @contract_test("make_state_store")
    async def test_is_a_state_store(self, make: Make) -> None:
        assert isinstance(await make(), StateStore)

    @contract_test("make_state_store")
    async def test_checkpoint_round_trip_replace_delete(self, make: Make) -> None:
        store = await make()
        assert await store.get_checkpoint("r1") is None
        await store.save_checkpoint("r1", {"step": 1, "items": [1, 2], "nested": {"ü": None}})
        assert await store.get_checkpoint("r1") == {"step": 1, "items": [1, 2], "nested": {"ü": None}}
        await store.save_checkpoint("r1", {"step": 2})
        assert await store.get_checkpoint("r1") == {"step": 2}
        assert await store.get_checkpoint("r2") is None
        await store.delete_checkpoint("r1")
        assert await store.get_checkpoint("r1") is None
        await store.delete_checkpoint("r1")  # absent: no error

    @contract_test("make_state_store")
    async def test_saved_state_is_a_copy(self, make: Make) -> None:
        store = await make()
        state = {"items": [1]}
        await store.save_checkpoint("r", state)
        state["items"].append(2)
        assert await store.get_checkpoint("r") == {"items": [1]}

    @contract_test("make_state_store")
    async def test_key_value_with_ttl_and_prefix_listing(self, make: Make) -> None:
        store = await make()
        await store.set("a:1", {"x": 1})
        await store.set("a:2", [1, 2])
        await store.set("b:1", "text")
        await store.set("a:%_", 5)  # SQL wildcards in keys are plain characters
        await store.set("a:short", 1, ttl_seconds=0.05)
        assert await store.get("a:1") == {"x": 1}
        assert await store.get("missing") is None
        assert await store.list_keys("a:") == ["a:%_", "a:1", "a:2", "a:short"]
        await asyncio.sleep(0.1)
        assert await store.get("a:short") is None
        assert await store.list_keys("a:") == ["a:%_", "a:1", "a:2"]
        await store.delete("a:1")
        assert await store.get("a:1") is None
        assert await store.list_keys() == ["a:%_", "a:2", "b:1"]

    @pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 1025, None, 5])
    @contract_test("make_state_store")
    async def test_bad_keys_are_refused(self, make: Make, bad: object) -> None:
        store = await make()
        with pytest.raises(UserError):
            await store.set(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(UserError):
            await store.save_checkpoint(bad, {})  # type: ignore[arg-type]

    @contract_test("make_state_store")
    async def test_non_json_values_are_refused_with_a_clear_error(self, make: Make) -> None:
        store = await make()
        with pytest.raises(UserError, match="JSON-serializable"):
            await store.save_checkpoint("r", {"when": object()})
        with pytest.raises(UserError, match="JSON-serializable"):
            await store.set("k", float("nan"))

    @contract_test("make_state_store")
    async def test_stored_values_are_held_to_the_read_limits(self, make: Make) -> None:
        store = await make()
        deep: object = 1
        for _ in range(200):
            deep = [deep]
        with pytest.raises(UserError, match="deeper than 128 levels"):
            await store.set("k", deep)
        with pytest.raises(UserError, match="lone surrogate"):
            await store.save_checkpoint("r", {"text": "\udc80"})
        with pytest.raises(UserError, match="lone surrogate"):
            await store.set("a\udc80b", 1)
