"""What the translation kit brings to this adapter: user hooks beside ours, nested runs (an agent
used as a tool, a guardrail's own run) reported with their usage, every open closed exactly once
on failure, and no configured secret in any event, checkpoint byte, result or log record."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    AgentHooks,
    GuardrailFunctionOutput,
    OpenAIResponsesModel,
    RunHooks,
    Runner,
    function_tool,
    input_guardrail,
)
from scenarios import build_weather_runtime, make_client, make_model

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, _secrets, configure
from agent_runtime_core.config import reset_config
from agent_runtime_core.events.base import Event
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    weather_model,
)
from agent_runtime_core.testing.scripted import (
    ScriptedModel,
    ScriptRequest,
    Turn,
    call_tool,
    fail,
    reply,
)
from agent_runtime_openai_agents import OpenAIAgentsRuntime

E = EventType


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


# -- user hooks ----------------------------------------------------------------------------------


class UserHooks(RunHooks[Any]):
    """Records each call and how many LLM_CALL_STARTED events the run had by then."""

    def __init__(self, runner: AgentRunner, run_id: str, fail_on: str | None = None) -> None:
        self.runner, self.run_id, self.fail_on = runner, run_id, fail_on
        self.calls: list[tuple[str, int]] = []

    async def _seen(self, name: str) -> None:
        events = await self.runner.event_bus.get_events(self.run_id)
        self.calls.append((name, len(of_type(events, E.LLM_CALL_STARTED))))
        if name == self.fail_on:
            raise ValueError(f"the user's {name} hook failed")

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        await self._seen("agent_start")

    async def on_llm_start(self, context: Any, agent: Any, *args: Any) -> None:
        await self._seen("llm_start")

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        await self._seen("llm_end")

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        await self._seen("tool_start")

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
        await self._seen("tool_end")


class AgentSideHooks(AgentHooks[Any]):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def on_start(self, context: Any, agent: Any) -> None:
        self.calls.append("start")

    async def on_end(self, context: Any, agent: Any, output: Any) -> None:
        self.calls.append("end")


async def test_user_hooks_run_after_ours_and_agent_hooks_run_too(serve, runner: AgentRunner) -> None:
    server = serve(weather_model())
    hooks = UserHooks(runner, "run-hooks")
    agent_hooks = AgentSideHooks()
    runtime = build_weather_runtime(server.base_url, hooks=hooks)
    runtime.agent = runtime.agent.clone(hooks=agent_hooks)
    result = await runner.execute(runtime, "run-hooks", WEATHER_QUESTION)
    check_weather_run(result, await runner.event_bus.get_events("run-hooks"))
    # In order, each after ours: by a user's llm_start, our LLM_CALL_STARTED of that call is out.
    assert hooks.calls == [
        ("agent_start", 0), ("llm_start", 1), ("llm_end", 1), ("tool_start", 1), ("tool_end", 1),
        ("llm_start", 2), ("llm_end", 2),
    ]
    assert agent_hooks.calls == ["start", "end"]
    with pytest.raises(TypeError, match="RunHooks"):
        OpenAIAgentsRuntime(runtime.agent, hooks=object())  # type: ignore[arg-type]


@pytest.mark.parametrize("hook", ["llm_start", "tool_start"])
async def test_an_error_in_a_user_hook_is_theirs_and_open_work_is_closed(hook: str, serve, runner: AgentRunner) -> None:
    server = serve(weather_model())
    hooks = UserHooks(runner, "run-bad-hook", fail_on=hook)
    result = await runner.execute(build_weather_runtime(server.base_url, hooks=hooks), "run-bad-hook", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED and result.error is not None
    assert f"the user's {hook} hook failed" in result.error.message
    if hook == "llm_start":  # raised as it is (the SDK wraps what a tool's hooks raise in its UserError)
        assert result.error.type == "ValueError"
    events = await runner.event_bus.get_events("run-bad-hook")
    check_grammar(events, strict=True)
    assert all(n == 1 for n in closes_per_open(events).values())


# -- nested runs ---------------------------------------------------------------------------------


def _role(request: ScriptRequest) -> str:
    system = next((m for m in request.messages if m.get("role") in ("system", "developer")), {})
    return str(system.get("content") or "").split(":")[0]


def nested_model(translator_fails: bool = False) -> ScriptedModel:
    """Serves three agents by their instructions: the orchestrator calls `translate` (an agent
    used as a tool) and answers from it; the translator and the guardrail's agent reply."""

    def first(request: ScriptRequest) -> Turn:
        role = _role(request)
        if role == "GUARD":
            return reply("The input is safe.")
        if role == "TRANSLATOR":
            return fail(400, "The translator's model refused.", times=None) if translator_fails else reply("Hello")
        return call_tool("translate", {"input": "Bonjour"})

    return ScriptedModel([first, reply(lambda r: f"Translated: {r.tool_results[-1].content}")])


def nested_runtime(base_url: str, *, translator_fails: bool = False) -> OpenAIAgentsRuntime:
    model = make_model(base_url)
    guard = Agent(name="guard", instructions="GUARD: say whether the input is safe.", model=model)

    @input_guardrail
    async def screen(ctx: Any, agent: Any, input: Any) -> GuardrailFunctionOutput:
        checked = await Runner.run(guard, input, context=ctx.context)  # the guardrail's own run
        return GuardrailFunctionOutput(output_info=checked.final_output, tripwire_triggered=False)

    translator = Agent(name="translator", instructions="TRANSLATOR: translate to English.", model=model)
    tool = translator.as_tool(
        "translate", "Translate text to English.", **({"failure_error_function": None} if translator_fails else {})
    )
    orchestrator = Agent(
        name="orchestrator", instructions="ORCHESTRATOR: use translate.", tools=[tool], input_guardrails=[screen], model=model
    )
    return OpenAIAgentsRuntime(orchestrator, key="oa-nested")


async def test_every_model_request_of_nested_runs_is_one_llm_call_pair_with_usage(serve, runner: AgentRunner) -> None:
    server = serve(nested_model())
    result = await runner.execute(nested_runtime(server.base_url), "run-nested", "Translate: Bonjour")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output["response"] == "Translated: Hello"
    events = await runner.event_bus.get_events("run-nested")
    check_grammar(events, strict=True)
    started, completed = of_type(events, E.LLM_CALL_STARTED), of_type(events, E.LLM_CALL_COMPLETED)
    assert server.model_calls == 4  # the guardrail's agent, the orchestrator twice, the translator
    assert len(started) == len(completed) == server.model_calls
    assert {e.span_id for e in started} == {e.span_id for e in completed}
    assert all(e.payload["usage"]["input_tokens"] > 0 and e.payload["usage"]["output_tokens"] > 0 for e in completed)
    nested = {e.payload["name"]: e.payload.get("parent_step") for e in of_type(events, E.STEP_STARTED)}
    assert nested == {"orchestrator": None, "guard": "orchestrator", "translator": "orchestrator"}
    steps_of_calls = sorted(str(e.step) for e in started)
    assert steps_of_calls == ["guard", "orchestrator", "orchestrator", "translator"]


async def test_a_failure_inside_a_nested_step_closes_every_open_step_call_and_tool_once(serve, runner: AgentRunner) -> None:
    server = serve(nested_model(translator_fails=True))
    result = await runner.execute(nested_runtime(server.base_url, translator_fails=True), "run-nested-fail", "Translate: Bonjour")
    assert result.status is RunStatus.FAILED
    events = await runner.event_bus.get_events("run-nested-fail")
    check_grammar(events, strict=True)
    counts = closes_per_open(events)
    assert counts and all(n == 1 for n in counts.values()), counts
    closing = [(e.type, e.step) for e in events if e.type in (E.LLM_CALL_FAILED, E.STEP_FAILED, E.TOOL_RESULT)]
    assert closing == [
        (E.LLM_CALL_FAILED, "translator"),  # the translator's call, then its step (the nested run)
        (E.STEP_FAILED, "translator"),
        (E.TOOL_RESULT, "orchestrator"),  # then the orchestrator's tool call and step (the run)
        (E.STEP_FAILED, "orchestrator"),
    ]


# -- secrets -------------------------------------------------------------------------------------

KEY = "cfg-Oa7Pq2Wm9Xz4Lk8Rt3Vb"  # not key-shaped: only the configuration says it is a secret


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


def _failing_tool(city: str) -> str:
    """Get the weather.

    Args:
        city: The city.
    """
    raise ValueError(f"weather service refused key {KEY} for {city}")


def _echo_model() -> ScriptedModel:
    return ScriptedModel([
        call_tool("get_weather", {"city": "Paris"}),
        reply(lambda r: f"Sorry: {r.tool_results[-1].content}" if r.tool_results else "Sorry."),
    ])


@pytest.mark.parametrize("where", ["tool exception", "tool exception fed to the model", "model error body"])
async def test_the_configured_key_reaches_no_event_checkpoint_result_or_log(
    where: str, configured_key: str, serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _echo_model() if where != "model error body" else ScriptedModel([fail(401, f"Incorrect API key provided: {KEY}.", times=None)])
    server = serve(model)
    db = tmp_path / "state.db"
    store = SQLiteStateStore(db)
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store)
    client = make_client(server.base_url)
    client.api_key = KEY  # the model's requests carry the configured key
    fed_back = {"failure_error_function": lambda ctx, error: f"Error: {error}"} if where.endswith("model") else {}
    tool = function_tool(_failing_tool, name_override="get_weather", **fed_back)
    agent = Agent(name="weather", instructions="Use get_weather.", tools=[tool],
                  model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client))
    caplog.set_level(logging.DEBUG)
    try:
        result = await runner.execute(OpenAIAgentsRuntime(agent, key="oa-secret"), "run-secret", WEATHER_QUESTION)
        checkpoint = await store.get_checkpoint("run-secret")
    finally:
        await store.close()
    if where.startswith("tool"):
        assert result.status is RunStatus.SUCCEEDED, result.error
        (tool_result,) = [e.payload for e in await runner.event_bus.get_events("run-secret") if e.type is E.TOOL_RESULT]
        assert "refused key ***" in tool_result.get("error", tool_result.get("result"))
        assert checkpoint is not None and checkpoint["status"] == "done"
        if where.endswith("model"):  # the model echoed the error: the answer, masked
            assert "refused key ***" in result.final_output["response"]
    else:
        assert result.status is RunStatus.FAILED and result.error is not None
        assert "Incorrect API key provided: ***" in result.error.message
    events = await runner.event_bus.get_events("run-secret")
    assert not leaks(json.dumps([e.to_dict() for e in events], ensure_ascii=False))
    raw = _stored(tmp_path)
    assert raw and not leaks(raw)
    assert not leaks(json.dumps([result.final_output, result.final_messages, result.error.to_dict() if result.error else None]))
    ours = [r for r in caplog.records if r.name.startswith("agent_runtime")]
    assert not any(leaks(r.getMessage()) or leaks(r.exc_text or "") for r in ours)
