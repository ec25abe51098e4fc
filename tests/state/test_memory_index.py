"""The in-memory store's prefix listing is indexed (a sorted key list kept beside the values):
whatever sequence of writes, deletes and expiries, `list_keys` answers what a full scan would."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_runtime_core.state import InMemoryStateStore

# Few short keys over a small alphabet, so writes, deletes and prefixes collide often; "\U0010ffff"
# sorts after every other character, the edge of a prefix range.
_KEYS = st.text(alphabet="ab:\U0010ffff", min_size=1, max_size=4)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, st.sampled_from([None, 0.0, 3600.0])),  # ttl 0: expired at once
        st.tuples(st.just("delete"), _KEYS, st.none()),
        st.tuples(st.just("get"), _KEYS, st.none()),
        st.tuples(st.just("list"), st.text(alphabet="ab:\U0010ffff", max_size=3), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
def test_list_keys_answers_what_a_full_scan_would(ops: list[tuple[str, str, float | None]]) -> None:
    async def scenario() -> None:
        store = InMemoryStateStore()
        live: dict[str, bool] = {}  # key -> still readable (False once its zero TTL passed)
        for op, key, ttl in ops:
            if op == "set":
                await store.set(key, key, ttl_seconds=ttl)
                live[key] = ttl != 0.0
            elif op == "delete":
                await store.delete(key)
                live.pop(key, None)
            elif op == "get":
                assert await store.get(key) == (key if live.get(key) else None)
            else:
                assert await store.list_keys(key) == sorted(k for k, ok in live.items() if ok and k.startswith(key))
        assert await store.list_keys() == sorted(k for k, ok in live.items() if ok)

    asyncio.run(scenario())


async def test_expired_keys_leave_the_index_and_come_back_when_set_again() -> None:
    store = InMemoryStateStore()
    await store.set("run:1:a", 1, ttl_seconds=0)
    await store.set("run:1:b", 2)
    await store.set("run:2:a", 3)
    assert await store.list_keys("run:1:") == ["run:1:b"]
    assert "keys=2" in repr(store)  # the expired key was dropped, not only skipped
    await store.set("run:1:a", 4)
    assert await store.list_keys("run:") == ["run:1:a", "run:1:b", "run:2:a"]
    await store.delete("run:1:a")
    await store.delete("run:1:a")  # absent: no error
    assert await store.list_keys("run:1") == ["run:1:b"]


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(st.tuples(st.booleans(), st.text(alphabet="abc", min_size=1, max_size=4)), min_size=20, max_size=400),
    prefixes=st.lists(st.text(alphabet="abc", max_size=3), max_size=5),
)
def test_the_chunked_index_keeps_order_through_splits_and_merges(
    ops: list[tuple[bool, str]], prefixes: list[str]
) -> None:
    from agent_runtime_core.state._sorted_keys import SortedKeys

    index = SortedKeys(load=4)  # chunks of 2 to 8 keys: many splits and merges
    model: set[str] = set()
    for add, key in ops:
        if add and key not in model:
            index.add(key)
            model.add(key)
        elif not add and key in model:
            index.remove(key)
            model.discard(key)
        assert len(index) == len(model)
    assert list(index.with_prefix("")) == sorted(model)
    for prefix in prefixes:
        assert list(index.with_prefix(prefix)) == sorted(k for k in model if k.startswith(prefix))


def test_the_chunked_index_under_many_random_adds_and_removes() -> None:
    import random

    from agent_runtime_core.state._sorted_keys import SortedKeys

    rng = random.Random(15)
    index = SortedKeys(load=4)
    model: set[str] = set()
    for step in range(20_000):
        key = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 5)))
        if key in model and rng.random() < 0.45:
            index.remove(key)
            model.discard(key)
        elif key not in model:
            index.add(key)
            model.add(key)
        if step % 500 == 0:
            assert list(index.with_prefix("")) == sorted(model)
            prefix = key[:2]
            assert list(index.with_prefix(prefix)) == sorted(k for k in model if k.startswith(prefix))
