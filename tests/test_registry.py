from __future__ import annotations

import pytest

from agent_runtime_core import (
    AgentRuntime,
    RunContext,
    RunResult,
    UserError,
    clear_registry,
    get_runtime,
    list_runtimes,
    register_runtime,
    unregister_runtime,
)


class A(AgentRuntime):
    def __init__(self, key: str = "a") -> None:
        self._key = key

    @property
    def key(self) -> str:
        return self._key

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult()


class B(A):
    pass


def test_register_get_list_unregister_clear() -> None:
    a, z = A("a"), A("z")
    register_runtime(z)
    register_runtime(a)
    assert get_runtime("a") is a
    assert list_runtimes() == ["a", "z"]
    unregister_runtime("a")
    assert list_runtimes() == ["z"]
    clear_registry()
    assert list_runtimes() == []


def test_unknown_key_error_lists_known_and_suggests() -> None:
    register_runtime(A("my-agent"))
    with pytest.raises(KeyError) as info:
        get_runtime("my-agnet")
    assert "Did you mean 'my-agent'" in str(info.value) and "Registered: 'my-agent'" in str(info.value)
    with pytest.raises(UserError):
        unregister_runtime("nope")


def test_same_class_replaces_other_class_is_refused() -> None:
    first, second = A("k"), A("k")
    register_runtime(first)
    register_runtime(second)  # a module imported twice
    assert get_runtime("k") is second
    with pytest.raises(UserError, match="already registered"):
        register_runtime(B("k"))


def test_bad_registrations() -> None:
    with pytest.raises(UserError):
        register_runtime(object())  # type: ignore[arg-type]
    with pytest.raises(UserError, match="non-empty"):
        register_runtime(A(""))
