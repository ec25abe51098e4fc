"""Test doubles for unit-testing agents: a mock LLM, a recording context, and a test runner."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import Any

from ..agent import AgentRuntime, RunResult
from ..context import RunContext, _current_context
from ..events.base import Event, EventType
from ..llm import use_llm_client
from ..llm.base import BaseLLMClient, LLMClient, LLMResponse, Usage
from ..state.memory import InMemoryStateStore
from ..tools import ToolRegistry

__all__ = ["MockLLMClient", "MockRunContext", "UnexpectedLLMCall", "create_test_context", "run_agent_test"]


class UnexpectedLLMCall(AssertionError):
    """The mock was called more times than it has responses."""


ResponseSpec = dict[str, Any] | str | LLMResponse | BaseException


class MockLLMClient(BaseLLMClient):
    """Answers with the given responses, in order, and records every call.

    A response is an assistant message dict (`{"role": "assistant", "content": ...,
    "tool_calls": [...]}`), a plain string, an `LLMResponse`, or an exception to raise.
    """

    provider = "mock"

    def __init__(self, responses: Sequence[ResponseSpec] = (), *, default_model: str = "mock-model") -> None:
        super().__init__(default_model=default_model)
        self.responses = list(responses)
        self.calls: list[dict[str, Any]] = []
        """Each call's `messages`, `tools`, `model` and other keyword arguments."""

    def __repr__(self) -> str:
        return f"MockLLMClient(responses={len(self.responses)}, calls={len(self.calls)})"

    async def _generate(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        self.calls.append({"messages": messages, "tools": tools, "model": model, **kwargs})
        index = len(self.calls) - 1
        if index >= len(self.responses):
            raise UnexpectedLLMCall(
                f"MockLLMClient got call #{index + 1} but has only {len(self.responses)} response(s). "
                f"Last message: {messages[-1] if messages else None!r}"
            )
        spec = self.responses[index]
        if isinstance(spec, BaseException):
            raise spec
        if isinstance(spec, LLMResponse):
            return spec
        message = {"role": "assistant", "content": spec} if isinstance(spec, str) else {"role": "assistant", **spec}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        content = message.get("content") or ""
        usage = Usage(sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1, len(str(content)) // 4 + 1)
        return LLMResponse(message=message, usage=usage, model=model, finish_reason=finish)


class MockRunContext(RunContext):
    """A `RunContext` that records what the agent emits and checkpoints.

    `events` holds every `Event`; `checkpoints` every saved state, in order. Checkpoints go to an
    in-memory state store, so `get_checkpoint()` and `StepExecutor` resume work as in a real run.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.events: list[Event] = []
        self.checkpoints: list[dict[str, Any]] = []
        kwargs.setdefault("state_store", InMemoryStateStore())
        kwargs.setdefault("agent_key", "test-agent")
        super().__init__(publish=self._record, **kwargs)

    async def _record(self, event: Event) -> None:
        self.events.append(event)

    async def checkpoint(self, state: dict[str, Any], *, step: str | None = None) -> None:
        await super().checkpoint(state, step=step)
        self.checkpoints.append(state)

    @property
    def event_types(self) -> list[EventType]:
        """The types of the recorded events, in order."""
        return [e.type for e in self.events]

    def events_of(self, event_type: EventType) -> list[Event]:
        """The recorded events of one type."""
        return [e for e in self.events if e.type is event_type]

    def cancel(self) -> None:
        """Request cancellation, as `AgentRunner.cancel()` would."""
        self.request_cancel()


def create_test_context(
    input_messages: list[dict[str, Any]] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
    tools: ToolRegistry | None = None,
    agent_key: str = "test-agent",
) -> MockRunContext:
    """A `MockRunContext` ready for `run_agent_test` or a direct `agent.run(ctx)`."""
    return MockRunContext(
        input_messages=input_messages, metadata=metadata, run_id=run_id, tools=tools, agent_key=agent_key
    )


async def run_agent_test(
    agent: AgentRuntime,
    ctx: RunContext | None = None,
    *,
    llm: LLMClient | None = None,
    timeout: float | None = 30.0,
) -> RunResult:
    """Run `agent` once with `ctx` and return its result; exceptions propagate, for the test.

    With `llm`, `get_llm_client()` returns it during this run only (a context variable, so tests
    running concurrently keep their own mocks).
    """
    ctx = ctx if ctx is not None else create_test_context()

    async def _run() -> RunResult:
        _current_context.set(ctx)
        if llm is None:
            return await agent.run(ctx)
        with use_llm_client(llm):
            return await agent.run(ctx)

    task = asyncio.create_task(_run(), context=contextvars.copy_context())
    async with asyncio.timeout(timeout):
        return await task
