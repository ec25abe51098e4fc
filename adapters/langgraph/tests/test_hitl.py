"""Human in the loop: `interrupt()` -> RUN_INTERRUPTED; `runner.resume` -> `Command(resume=...)`."""

from __future__ import annotations

import pytest
import scenarios

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, UserError
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing.conformance import WEATHER_ANSWER, WEATHER_QUESTION, check_grammar


async def test_interrupt_then_resume_with_approval(runner, weather_server):
    runtime = scenarios.build_hitl_runtime(weather_server.base_url)
    first = await runner.execute(runtime, "lg-hitl-1", WEATHER_QUESTION)
    assert first.status is RunStatus.INTERRUPTED
    assert first.interrupt is not None
    assert first.interrupt["question"] == {"action": "approve_tool", "tool": "get_weather", "args": {"city": "Paris"}}
    assert first.interrupt["node"] == "review"
    assert isinstance(first.interrupt["interrupt_id"], str)
    events = await runner.event_bus.get_events("lg-hitl-1")
    check_grammar(events, strict=True)
    assert events[-1].type is EventType.RUN_INTERRUPTED
    assert events[-1].payload["interrupt"]["question"]["tool"] == "get_weather"
    assert not any(e.type is EventType.TOOL_CALL for e in events)
    review = [e.payload for e in events if e.type is EventType.STEP_COMPLETED and e.payload["name"] == "review"]
    assert review == [{"name": "review", "kind": "node", "interrupted": True}]
    # The state is checkpointed in the runner's StateStore, under the run's id.
    assert await runner.state_store.list_keys("langgraph:lg-hitl-1:cp:")
    assert weather_server.model_calls == 1

    resumed = await runner.resume("lg-hitl-1", "yes", agent=runtime)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.final_output == {"response": WEATHER_ANSWER}
    assert weather_server.model_calls == 2  # the first model call is not made again
    all_events = await runner.event_bus.get_events("lg-hitl-1")
    later = all_events[len(events) :]
    check_grammar(later, strict=True)
    calls = [e.payload for e in later if e.type is EventType.TOOL_CALL]
    assert calls == [{"tool_call_id": "call_0_get_weather", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert [e.seq for e in all_events] == list(range(1, len(all_events) + 1))


async def test_resume_with_refusal_goes_another_way(runner, weather_server):
    runtime = scenarios.build_hitl_runtime(weather_server.base_url)
    await runner.execute(runtime, "lg-hitl-2", WEATHER_QUESTION)
    resumed = await runner.resume("lg-hitl-2", "no", agent=runtime)
    assert resumed.status is RunStatus.SUCCEEDED
    events = await runner.event_bus.get_events("lg-hitl-2")
    assert "tools" not in [e.payload["name"] for e in events if e.type is EventType.STEP_STARTED]
    tool_results = [e.payload for e in events if e.type is EventType.TOOL_RESULT]
    assert tool_results == [{"tool_call_id": "call_0_get_weather", "name": "get_weather", "error": "The user declined."}]
    assert resumed.final_output["response"] == "The weather in Paris: The user declined.."


async def test_resume_in_a_new_runner_sharing_the_store(weather_server):
    """The interrupt survives the runner: another runner on the same store resumes it (as a
    worker in another process would with a persistent store)."""
    store = InMemoryStateStore()
    bus = InMemoryEventBus()
    config = RunnerConfig(max_retries=0)
    runtime = scenarios.build_hitl_runtime(weather_server.base_url)
    first = await AgentRunner(config, event_bus=bus, state_store=store).execute(runtime, "lg-hitl-3", WEATHER_QUESTION)
    assert first.status is RunStatus.INTERRUPTED
    other = AgentRunner(config, event_bus=bus, state_store=store)
    resumed = await other.resume("lg-hitl-3", "yes", agent=scenarios.build_hitl_runtime(weather_server.base_url))
    assert resumed.final_output == {"response": WEATHER_ANSWER}


async def test_reexecuting_a_waiting_run_asks_again_without_model_calls(runner, weather_server):
    runtime = scenarios.build_hitl_runtime(weather_server.base_url)
    first = await runner.execute(runtime, "lg-hitl-4", WEATHER_QUESTION)
    again = await runner.execute(runtime, "lg-hitl-4", WEATHER_QUESTION)
    assert again.status is RunStatus.INTERRUPTED
    assert again.interrupt == first.interrupt
    assert weather_server.model_calls == 1


async def test_resume_needs_an_interrupted_run(runner, weather_server):
    runtime = scenarios.build_weather_runtime(weather_server.base_url)
    await runner.execute(runtime, "lg-hitl-5", WEATHER_QUESTION)
    with pytest.raises(UserError, match="not waiting for a human"):
        await runner.resume("lg-hitl-5", "yes", agent=runtime)


async def test_resume_without_saved_state_fails_clearly(runner, weather_server):
    runtime = scenarios.build_hitl_runtime(weather_server.base_url)
    result = await runner.execute(runtime, "lg-hitl-6", WEATHER_QUESTION, resume_value="yes", resuming=True)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "no saved LangGraph state" in result.error.message
