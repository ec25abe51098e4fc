"""The unit-testing helpers: MockLLMClient, MockRunContext, run_agent_test."""

from __future__ import annotations

import asyncio

import pytest

from agent_runtime_core import AgentRuntime, EventType, RunContext, RunResult
from agent_runtime_core.llm import LLMResponse, get_llm_client, use_llm_client
from agent_runtime_core.testing import (
    MockLLMClient,
    UnexpectedLLMCall,
    create_test_context,
    run_agent_test,
)


class MyAgent(AgentRuntime):
    @property
    def key(self) -> str:
        return "my-agent"

    async def run(self, ctx: RunContext) -> RunResult:
        llm = get_llm_client()
        response = await llm.generate(ctx.input_messages)
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": response.message["content"]})
        return RunResult(
            final_output={"response": response.message["content"]},
            final_messages=[response.message],
        )


async def test_run_agent_test_hands_the_mock_to_get_llm_client() -> None:
    ctx = create_test_context(input_messages=[{"role": "user", "content": "Hello!"}])
    mock_llm = MockLLMClient(responses=[{"role": "assistant", "content": "Hi there!"}])
    result = await run_agent_test(MyAgent(), ctx, llm=mock_llm)
    assert result.final_output["response"] == "Hi there!"
    assert mock_llm.calls[0]["messages"] == [{"role": "user", "content": "Hello!"}]
    # The mock reports its call on the run's stream, like a real client
    assert ctx.event_types == [
        EventType.LLM_CALL_STARTED,
        EventType.LLM_CALL_COMPLETED,
        EventType.ASSISTANT_MESSAGE,
    ]
    assert ctx.events_of(EventType.LLM_CALL_COMPLETED)[0].payload["model"] == "mock-model"


async def test_the_mock_is_scoped_to_its_run_only() -> None:
    async def one(n: int) -> str:
        ctx = create_test_context(input_messages=[{"role": "user", "content": str(n)}])
        result = await run_agent_test(MyAgent(), ctx, llm=MockLLMClient([f"answer {n}"]))
        return str(result.final_output["response"])

    assert await asyncio.gather(*(one(n) for n in range(20))) == [f"answer {n}" for n in range(20)]
    with use_llm_client(MockLLMClient(["outer"])) as outer:
        assert get_llm_client() is outer
        await run_agent_test(
            MyAgent(),
            create_test_context([{"role": "user", "content": "x"}]),
            llm=MockLLMClient(["inner"]),
        )
        assert get_llm_client() is outer  # restored after the test run


async def test_mock_tool_calls_exceptions_and_exhaustion() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
    }
    mock = MockLLMClient(
        [
            {"content": None, "tool_calls": [call]},
            ConnectionError("down"),
            LLMResponse({"role": "assistant", "content": "raw"}),
        ]
    )
    first = await mock.generate(
        [{"role": "user", "content": "weather?"}], tools=[{"type": "function"}]
    )
    assert first.tool_calls == [call] and first.finish_reason == "tool_calls"
    assert mock.calls[0]["tools"] == [{"type": "function"}]
    with pytest.raises(ConnectionError):
        await mock.generate([])
    assert (await mock.generate([])).content == "raw"
    with pytest.raises(UnexpectedLLMCall, match="call #4 but has only 3"):
        await mock.generate([{"role": "user", "content": "more"}])


async def test_mock_context_records_checkpoints_and_cancel() -> None:
    ctx = create_test_context(metadata={"user": "u1"})
    assert ctx.metadata == {"user": "u1"} and not ctx.is_cancelled()
    await ctx.checkpoint({"a": 1})
    assert ctx.checkpoints == [{"a": 1}] and await ctx.get_checkpoint() == {"a": 1}
    ctx.cancel()
    assert ctx.is_cancelled()
    await asyncio.wait_for(ctx.wait_cancelled(), 1)


async def test_run_agent_test_times_out() -> None:
    class Hangs(AgentRuntime):
        key = "hangs"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            await asyncio.sleep(10)
            return RunResult()

    with pytest.raises(TimeoutError):
        await run_agent_test(Hangs(), timeout=0.02)
