"""What the translation kit brings to this adapter: every model request one LLM call pair, every
open closed exactly once on failure, structured (`output_pydantic`) results kept, and no configured
secret in any event, checkpoint byte, result or log record."""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import scenarios
from pydantic import BaseModel

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, _secrets, configure
from agent_runtime_core.config import reset_config
from agent_runtime_core.events.base import Event
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing.conformance import check_grammar, weather_for
from agent_runtime_core.testing.scripted import ScriptedModel, call_tool, fail, reply
from agent_runtime_crewai import CrewAIRuntime

E = EventType

# CrewAI's OpenAI client keeps the pooled keep-alive socket of a crew whose run failed until the
# garbage collector closes it, possibly during a later test (CrewAI offers no way to close it).
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(autouse=True)
def _collect_framework_sockets() -> Iterator[None]:
    yield
    gc.collect()  # here, where the mark above applies, not at the end of the session


def of_type(events: list[Event], kind: EventType) -> list[Event]:
    return [e for e in events if e.type is kind]


def closes_per_open(events: list[Event]) -> Counter[tuple[str, str]]:
    """How many times each opened step, model call and tool call was closed (by span id)."""
    opens = {E.STEP_STARTED: "step", E.LLM_CALL_STARTED: "llm", E.TOOL_CALL: "tool"}
    closes = {E.STEP_COMPLETED: "step", E.STEP_FAILED: "step", E.LLM_CALL_COMPLETED: "llm",
              E.LLM_CALL_FAILED: "llm", E.TOOL_RESULT: "tool"}
    count: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.type in opens:
            count[(opens[e.type], str(e.span_id))] += 0
        elif e.type in closes:
            count[(closes[e.type], str(e.span_id))] += 1
    return count


def no_retry_crew(base_url: str, **kwargs):
    crew = scenarios.build_weather_crew(base_url, **kwargs)
    crew.agents[0].max_retry_limit = 0  # CrewAI would run the whole task again on a failure
    return crew


# -- model calls and failures --------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_every_model_request_is_one_llm_call_pair(stream: bool, serve, runner: AgentRunner) -> None:
    server = serve(scenarios.weather_model())
    result = await runner.execute(scenarios.build_weather_runtime(server.base_url, stream=stream), "pairs",
                                  "What's the weather in Paris?")
    assert result.status is RunStatus.SUCCEEDED, result.error
    events = await runner.event_bus.get_events("pairs")
    check_grammar(events, strict=True)
    started, completed = of_type(events, E.LLM_CALL_STARTED), of_type(events, E.LLM_CALL_COMPLETED)
    assert len(started) == len(completed) == server.model_calls == 2
    assert [e.span_id for e in started] == [e.span_id for e in completed]
    assert all(n == 1 for n in closes_per_open(events).values())


async def test_a_failure_inside_a_task_closes_every_open_step_call_and_tool_once(serve, runner: AgentRunner) -> None:
    """The model calls the tool, then fails: the failed call, the agent step and the task step are
    each closed once, innermost first, and nothing stays open."""
    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"}), fail(500, "the model is down", times=None)],
                                 model=scenarios.MODEL_NAME))
    result = await runner.execute(CrewAIRuntime(no_retry_crew(server.base_url), key="fails"), "fails",
                                  "What's the weather in Paris?")
    assert result.status is RunStatus.FAILED
    events = await runner.event_bus.get_events("fails")
    check_grammar(events, strict=True)
    counts = closes_per_open(events)
    assert counts and all(n == 1 for n in counts.values()), counts
    assert len(of_type(events, E.LLM_CALL_STARTED)) == server.model_calls == 2
    closing = [(e.type, e.payload.get("name", e.payload.get("model"))) for e in events
               if e.type in (E.LLM_CALL_FAILED, E.STEP_FAILED)]
    assert closing == [(E.LLM_CALL_FAILED, scenarios.MODEL_NAME), (E.STEP_FAILED, "Forecaster"),
                       (E.STEP_FAILED, "task 1: What's the weather in Paris?")]
    error = of_type(events, E.STEP_FAILED)[-1].payload["error"]
    assert set(error) >= {"type", "message", "retriable"} and "the model is down" in error["message"]


# -- structured output ---------------------------------------------------------------------------


class Forecast(BaseModel):
    city: str
    summary: str


async def test_output_pydantic_result_is_kept_as_json(serve, runner: AgentRunner) -> None:
    forecast = {"city": "Paris", "summary": weather_for("Paris")}
    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply(json.dumps(forecast))],
                                 model=scenarios.MODEL_NAME))
    crew = scenarios.build_weather_crew(server.base_url)
    crew.tasks[0].output_pydantic = Forecast
    result = await runner.execute(CrewAIRuntime(crew, key="structured"), "structured", "What's the weather in Paris?")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output["json"] == forecast
    assert result.final_output["tasks"][0]["json"] == forecast
    assert json.loads(json.dumps(result.final_output))["json"] == forecast  # JSON all the way
    stored = await runner.state_store.get("crewai:structured:task:00000")
    assert stored["json_dict"] == forecast  # and a re-executed run gets it back
    again = await runner.execute(CrewAIRuntime(crew, key="structured"), "structured", "What's the weather in Paris?")
    assert again.final_output["json"] == forecast and server.model_calls == 2


# -- secrets -------------------------------------------------------------------------------------

KEY = "cfg-Cr7Pq2Wm9Xz4Lk8Rt3Vb"  # not key-shaped: only the configuration says it is a secret


@pytest.fixture
def configured_key() -> Iterator[str]:
    known = set(_secrets._known)
    configure(openai_api_key=KEY)
    yield KEY
    reset_config()
    _secrets._known.clear()
    _secrets._known.update(known)


def leaks(text: str) -> bool:
    return any(KEY[i : i + 10] in text for i in range(len(KEY) - 9))


def _stored(folder: Path) -> str:
    """The SQLite file's raw bytes, its -wal and -shm too."""
    return b"".join(p.read_bytes() for p in folder.glob("state.db*")).decode("utf-8", "replace")


def _refusing_tool(city: str) -> str:
    """Get the weather.

    Args:
        city: The city.
    """
    raise ValueError(f"weather service refused key {KEY} for {city}")


@pytest.mark.parametrize("where", ["tool exception", "model error body"])
async def test_the_configured_key_reaches_no_event_checkpoint_result_or_log(
    where: str, configured_key: str, serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    if where == "tool exception":  # CrewAI feeds the error to the model, which repeats it
        model = ScriptedModel([call_tool("get_weather", {"city": "Paris"}),
                               reply(lambda r: f"Sorry: {r.tool_results[-1].content}" if r.tool_results else "Sorry.")],
                              model=scenarios.MODEL_NAME)
    else:
        model = ScriptedModel([fail(401, f"Incorrect API key provided: {KEY}.", times=None)], model=scenarios.MODEL_NAME)
    server = serve(model)
    llm = LLM(model=f"openai/{scenarios.MODEL_NAME}", base_url=server.base_url, api_key=KEY, max_retries=0)
    agent = Agent(role="Forecaster", goal="Tell the weather.", backstory="You use your tool.", llm=llm,
                  tools=[tool("get_weather")(_refusing_tool)], max_iter=4, max_retry_limit=0)
    crew = Crew(agents=[agent], tasks=[Task(description="{input}", expected_output="One sentence.", agent=agent)])
    store = SQLiteStateStore(tmp_path / "state.db")
    runner = AgentRunner(RunnerConfig(max_retries=0), state_store=store)
    caplog.set_level(logging.DEBUG)
    try:
        result = await runner.execute(CrewAIRuntime(crew, key="secret"), "run-secret", "What's the weather in Paris?")
        events = await runner.event_bus.get_events("run-secret")
    finally:
        await store.close()
    if where == "tool exception":
        assert result.status is RunStatus.SUCCEEDED, result.error
        (tool_result,) = [e.payload for e in of_type(events, E.TOOL_RESULT)]
        assert "refused key ***" in tool_result.get("error", tool_result.get("result"))
        assert "refused key ***" in result.final_output["response"]
    else:
        assert result.status is RunStatus.FAILED and result.error is not None
        assert "Incorrect API key provided: ***" in result.error.message
        assert of_type(events, E.LLM_CALL_FAILED) and of_type(events, E.STEP_FAILED)
    assert not leaks(json.dumps([e.to_dict() for e in events], ensure_ascii=False))
    raw = _stored(tmp_path)
    assert raw and not leaks(raw)
    assert not leaks(json.dumps([result.final_output, result.final_messages, result.error.to_dict() if result.error else None],
                                ensure_ascii=False))
    ours = [r for r in caplog.records if r.name.startswith("agent_runtime")]
    assert not any(leaks(r.getMessage()) or leaks(r.exc_text or "") for r in ours)
