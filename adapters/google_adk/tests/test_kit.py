"""What the translation kit guarantees, checked on ADK: no configured secret in any event,
checkpoint byte, stored session byte, result or log record; the stored session is readable by
ADK; and the session service works on its own (ADK's contract)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.adk.agents import LlmAgent
from google.adk.events.event import Event as ADKEvent
from google.adk.events.event_actions import EventActions
from google.adk.models.lite_llm import LiteLlm
from google.genai import types

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, _secrets, configure
from agent_runtime_core.config import reset_config
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore, SQLiteStateStore
from agent_runtime_core.testing import ScriptedModel, call_tool, fail, reply
from agent_runtime_core.testing.conformance import WEATHER_QUESTION
from agent_runtime_google_adk import GoogleADKRuntime, StateStoreSessionService

KEY = "cfg-Gk7Pq2Wm9Xz4Lk8Rt3Vb"  # not key-shaped: only the configuration says it is a secret


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


def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: The city.
    """
    raise ValueError(f"weather service refused key {KEY} for {city}")


@pytest.mark.parametrize("where", ["tool exception fed to the model", "model error body"])
async def test_the_configured_key_reaches_no_event_checkpoint_session_result_or_log(
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
    llm = LiteLlm(model="openai/gpt-4o-mini", api_base=server.base_url, api_key=KEY, num_retries=0)
    agent = LlmAgent(name="weather", model=llm, instruction="Use get_weather.", tools=[get_weather])
    caplog.set_level(logging.DEBUG)
    try:
        result = await runner.execute(GoogleADKRuntime(agent, key="adk-secret"), "run-secret", WEATHER_QUESTION)
    finally:
        await store.close()
    if where.startswith("tool"):
        assert result.status is RunStatus.SUCCEEDED, result.error
        (tool_result,) = [e.payload for e in await runner.event_bus.get_events("run-secret") if e.type is EventType.TOOL_RESULT]
        assert "refused key ***" in tool_result["error"]
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


async def test_session_service_round_trip_with_scoped_state() -> None:
    store = InMemoryStateStore()
    service = StateStoreSessionService(store)
    session = await service.create_session(app_name="app", user_id="u", session_id="s1", state={"k": 1, "user:name": "Ada", "app:v": 2})
    assert session.state == {"k": 1, "user:name": "Ada", "app:v": 2}
    event = ADKEvent(invocation_id="i1", author="user", content=types.Content(role="user", parts=[types.Part(text="hi")]),
                     actions=EventActions(state_delta={"k": 3, "user:name": "Grace", "temp:x": 1}))
    await service.append_event(session, event)
    again = StateStoreSessionService(store)  # another process would see the same
    loaded = await again.get_session(app_name="app", user_id="u", session_id="s1")
    assert loaded is not None
    assert [e.content.parts[0].text for e in loaded.events] == ["hi"]
    assert loaded.state == {"k": 3, "user:name": "Grace", "app:v": 2}  # temp: is not kept
    other = await again.create_session(app_name="app", user_id="u", session_id="s2")
    assert other.state == {"user:name": "Grace", "app:v": 2}
    assert await again.get_user_state(app_name="app", user_id="u") == {"name": "Grace"}
    listed = await again.list_sessions(app_name="app", user_id="u")
    assert [s.id for s in listed.sessions] == ["s1", "s2"] and all(not s.events for s in listed.sessions)
    await again.delete_session(app_name="app", user_id="u", session_id="s1")
    assert await again.get_session(app_name="app", user_id="u", session_id="s1") is None
