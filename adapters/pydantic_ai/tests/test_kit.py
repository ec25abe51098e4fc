"""What the translation kit guarantees, checked on Pydantic AI runs: a failure inside the agent
closes every open step, call and tool call exactly once, and no configured secret reaches any
event, checkpoint byte, result or log record."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, _secrets, configure
from agent_runtime_core.config import reset_config
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing import ScriptedModel, call_tool, fail, reply
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, check_grammar
from agent_runtime_pydantic_ai import PydanticAIRuntime

E = EventType


class Boom(RuntimeError):
    """A tool failing in a way Pydantic AI does not handle."""


async def test_a_failure_closes_everything_exactly_once(serve, runner) -> None:
    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"})]))
    client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)), name="weather")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        raise Boom(f"no weather for {city}")

    try:
        result = await runner.execute(PydanticAIRuntime(agent), "run-boom", WEATHER_QUESTION)
    finally:
        await client.close()
    assert result.status is RunStatus.FAILED and result.error is not None and result.error.type == "Boom"
    events = await runner.event_bus.get_events("run-boom")
    check_grammar(events, strict=True)
    opens = Counter(e.type for e in events if e.type in (E.STEP_STARTED, E.LLM_CALL_STARTED, E.TOOL_CALL))
    closes = Counter(e.type for e in events if e.type in (E.STEP_COMPLETED, E.STEP_FAILED, E.LLM_CALL_COMPLETED, E.LLM_CALL_FAILED, E.TOOL_RESULT))
    assert opens == {E.STEP_STARTED: 1, E.LLM_CALL_STARTED: 1, E.TOOL_CALL: 1}
    assert closes == {E.STEP_FAILED: 1, E.LLM_CALL_COMPLETED: 1, E.TOOL_RESULT: 1}
    assert [e.type for e in events[-3:]] == [E.TOOL_RESULT, E.STEP_FAILED, E.RUN_FAILED]


# -- secrets -------------------------------------------------------------------------------------

KEY = "cfg-Pd7Qr2Wm9Xz4Lk8Rt3Vb"  # not key-shaped: only the configuration says it is a secret


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


@pytest.mark.parametrize("where", ["tool exception", "tool error fed to the model", "model error body"])
async def test_the_configured_key_reaches_no_event_checkpoint_result_or_log(
    where: str, configured_key: str, serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if where == "model error body":
        model = ScriptedModel([fail(401, f"Incorrect API key provided: {KEY}.", times=None)])
    else:
        model = ScriptedModel([
            call_tool("get_weather", {"city": "Paris"}),
            reply(lambda r: f"Sorry: {r.tool_results[-1].content}" if r.tool_results else "Sorry."),
        ])
    server = serve(model)
    store = SQLiteStateStore(tmp_path / "state.db")
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store)
    client = AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)  # requests carry the key
    agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)), name="weather")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        if where == "tool error fed to the model":
            raise ModelRetry(f"weather service refused key {KEY} for {city}")
        raise ValueError(f"weather service refused key {KEY} for {city}")

    caplog.set_level(logging.DEBUG)
    try:
        result = await runner.execute(PydanticAIRuntime(agent, key="pa-secret"), "run-secret", WEATHER_QUESTION)
        checkpoint = await store.get_checkpoint("run-secret")
    finally:
        await store.close()
        await client.close()
    events = await runner.event_bus.get_events("run-secret")
    if where.startswith("tool"):
        (tool_result,) = [e.payload for e in events if e.type is E.TOOL_RESULT]
        assert "refused key ***" in tool_result["error"]
        assert checkpoint is not None
    if where == "tool error fed to the model":
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert "refused key ***" in result.final_output["response"]
    else:
        assert result.status is RunStatus.FAILED and result.error is not None
        assert "***" in result.error.message
    assert not leaks(json.dumps([e.to_dict() for e in events], ensure_ascii=False))
    raw = _stored(tmp_path)
    assert raw and not leaks(raw)
    assert not leaks(json.dumps([result.final_output, result.final_messages, result.error.to_dict() if result.error else None]))
    ours = [r for r in caplog.records if r.name.startswith("agent_runtime")]
    assert not any(leaks(r.getMessage()) or leaks(r.exc_text or "") for r in ours)
