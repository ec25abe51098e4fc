"""Human in the loop: a tool with `require_confirmation=True` ends the run INTERRUPTED with the
question; `runner.resume(run_id, True/False or {"confirmed": bool})` sends ADK the confirmation
it waits for, and the run continues from its saved session."""

from __future__ import annotations

from google.adk.agents import LlmAgent
from google.adk.tools import LongRunningFunctionTool
from scenarios import build_approval_runtime, make_model

from agent_runtime_core import AgentRunner, EventType, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import SQLiteStateStore
from agent_runtime_core.testing import ScriptedModel, ScriptRequest, Turn, call_tool, reply
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    tool_result_text,
    weather_model,
)
from agent_runtime_google_adk import GoogleADKRuntime


async def interrupt(runner: AgentRunner, runtime, run_id: str):
    result = await runner.execute(runtime, run_id, WEATHER_QUESTION)
    assert result.status is RunStatus.INTERRUPTED, result.error
    return result


async def test_confirmation_interrupts_then_resume_true_runs_the_tool(serve, runner) -> None:
    server = serve(weather_model())
    runtime = build_approval_runtime(server.base_url)
    result = await interrupt(runner, runtime, "run-hitl")
    assert result.interrupt is not None
    assert result.interrupt["type"] == "tool_confirmation"
    assert result.interrupt["tool"] == "get_weather"
    assert result.interrupt["arguments"] == {"city": "Paris"}
    assert result.interrupt["tool_call_id"] == "call_0_get_weather"
    assert result.interrupt["confirmation_id"]
    assert "get_weather" in result.interrupt["question"]
    assert server.model_calls == 1
    events = await runner.event_bus.get_events("run-hitl")
    check_grammar(events, strict=False)  # the tool call stays open while it waits
    assert events[-1].type is EventType.RUN_INTERRUPTED and events[-1].payload["interrupt"] == result.interrupt
    assert not [e for e in events if e.type is EventType.TOOL_RESULT]  # not run before approval

    resumed = await runner.resume("run-hitl", True, agent=runtime)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.final_output["response"] == WEATHER_ANSWER
    assert server.model_calls == 2  # the first call is not repeated
    after = (await runner.event_bus.get_events("run-hitl"))[len(events):]
    check_grammar(after, strict=True)
    results = [e.payload for e in after if e.type is EventType.TOOL_RESULT]
    assert results == [{"tool_call_id": "call_0_get_weather", "name": "get_weather", "result": "Sunny, 22°C in Paris"}]
    assert [m["role"] for m in resumed.final_messages or []] == ["user", "assistant", "tool", "assistant"]


async def test_resume_false_rejects_the_call(serve, runner) -> None:
    server = serve(weather_model())
    runtime = build_approval_runtime(server.base_url)
    await interrupt(runner, runtime, "run-reject")
    resumed = await runner.resume("run-reject", {"confirmed": False}, agent=runtime)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert server.model_calls == 2
    assert "rejected" in resumed.final_output["response"]  # ADK tells the model the call was rejected


async def test_bad_resume_value_fails_clearly(serve, runner) -> None:
    server = serve(weather_model())
    runtime = build_approval_runtime(server.base_url)
    await interrupt(runner, runtime, "run-bad")
    resumed = await runner.resume("run-bad", "maybe", agent=runtime)
    assert resumed.status is RunStatus.FAILED
    assert resumed.error is not None and "True/False" in resumed.error.message


async def test_confirmation_survives_a_new_process_state(serve, tmp_path) -> None:
    """Session and question live in SQLite: a new runtime (new agent objects) and a new
    connection resume the run."""
    server = serve(weather_model())
    bus = InMemoryEventBus()
    store = SQLiteStateStore(tmp_path / "hitl.db")
    try:
        await interrupt(AgentRunner(event_bus=bus, state_store=store), build_approval_runtime(server.base_url), "run-x")
    finally:
        await store.close()
    store = SQLiteStateStore(tmp_path / "hitl.db")
    try:
        resumed = await AgentRunner(event_bus=bus, state_store=store).resume("run-x", True, agent=build_approval_runtime(server.base_url))
        assert resumed.status is RunStatus.SUCCEEDED, resumed.error
        assert resumed.final_output["response"] == WEATHER_ANSWER
    finally:
        await store.close()
    assert server.model_calls == 2


async def test_interrupted_run_executed_again_asks_again(serve, runner) -> None:
    server = serve(weather_model())
    runtime = build_approval_runtime(server.base_url)
    first = await interrupt(runner, runtime, "run-again")
    again = await runner.execute(runtime, "run-again", WEATHER_QUESTION)
    assert again.status is RunStatus.INTERRUPTED and again.interrupt == first.interrupt
    assert server.model_calls == 1


def ask_manager(amount: int) -> dict:
    """Ask a manager to approve a refund (answers later).

    Args:
        amount: The amount to refund.
    """
    return {"status": "pending", "ticket": "T-1"}


async def test_long_running_tool_interrupts_and_resume_gives_its_result(serve, runner) -> None:
    def route(request: ScriptRequest) -> Turn:
        if not request.tool_results:
            return call_tool("ask_manager", {"amount": 50})
        return reply(f"Manager: {tool_result_text(request.tool_results[-1].content)}")

    server = serve(ScriptedModel([route] * 8))
    agent = LlmAgent(name="refunds", model=make_model(server.base_url), instruction="Refunds.", tools=[LongRunningFunctionTool(ask_manager)])
    runtime = GoogleADKRuntime(agent)
    result = await runner.execute(runtime, "run-long", "Refund 50, please.")
    assert result.status is RunStatus.INTERRUPTED, result.error
    assert result.interrupt is not None
    assert result.interrupt["type"] == "long_running_tool" and result.interrupt["tool"] == "ask_manager"
    assert result.interrupt["status"] == {"status": "pending", "ticket": "T-1"}  # its first answer
    first = await runner.event_bus.get_events("run-long")
    assert not [e for e in first if e.type is EventType.TOOL_RESULT]  # still running

    resumed = await runner.resume("run-long", {"status": "approved"}, agent=runtime)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.final_output["response"] == 'Manager: {"status": "approved"}'
    after = (await runner.event_bus.get_events("run-long"))[len(first):]
    check_grammar(after, strict=True)
    (tool_result,) = [e.payload for e in after if e.type is EventType.TOOL_RESULT]
    assert tool_result == {"tool_call_id": "call_0_ask_manager", "name": "ask_manager", "result": '{"status": "approved"}'}
