"""AG-UI for every framework through one mapping: the demo's weather task built natively in
LangGraph, CrewAI and the OpenAI Agents SDK, and as a plain runtime, served by `create_app` and
run by AG-UI's real TypeScript client (`@ag-ui/client` HttpAgent on Node.js), which checks the
event order itself. Its parsed events and the conversation it builds are checked here."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core._demo import demo_script, get_weather, load_frameworks, search_web
from agent_runtime_core.serve import create_app
from agent_runtime_core.serve.demo import ScriptedToolAgent
from agent_runtime_core.testing import OpenAICompatibleServer

KEY = "conformance-agui-" + "k" * 24
ANSWER = "Here is what I found: The weather in Paris is sunny, 72°F."


def _support() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "serve" / "support.py"
    spec = importlib.util.spec_from_file_location("serve_test_support", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


support = _support()
# The frameworks' own warnings at import and run time, as in test_frameworks.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ImportWarning:importlib._bootstrap"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:openai.*"),
    pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecatedSinceV10"),
]
FRAMEWORKS = dict(load_frameworks()[0])


@pytest.mark.parametrize("name", ["native", "langgraph", "crewai", "openai-agents"])
async def test_the_typescript_client_runs_each_framework(name: str) -> None:
    support.require_js("@ag-ui/client")
    if name != "native":
        assert name in FRAMEWORKS, f"the {name} adapter is not installed in this environment (make .venv-all/.installed)"
    with OpenAICompatibleServer(demo_script()) as model_server:
        close: Any = None
        if name == "native":
            agent: Any = ScriptedToolAgent()
        else:
            agent, close = FRAMEWORKS[name].build_demo_runtime(model_server.base_url, [get_weather, search_web])
        try:
            app = create_app(AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=120)), agents=[agent], api_keys=[KEY])
            async with support.serve_app(app) as url:
                out = await support.run_node("agui_client.mjs", {
                    "url": f"{url}/agui/{agent.key}", "apiKey": KEY, "threadId": f"thread-{name}", "runId": str(uuid.uuid4()),
                    "messages": [{"id": "u1", "role": "user", "content": "What's the weather like in Paris?"}],
                }, timeout=180)
        finally:
            if close is not None:
                await close()
    assert "error" not in out, out["error"]  # the client's own checks of the event order passed
    events = out["events"]
    types = [e["type"] for e in events]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    start = next(e for e in events if e["type"] == "TOOL_CALL_START")
    assert start["toolCallName"] == "get_weather"
    args = "".join(e["delta"] for e in events if e["type"] == "TOOL_CALL_ARGS" and e["toolCallId"] == start["toolCallId"])
    assert '"Paris"' in args
    result = next(e for e in events if e["type"] == "TOOL_CALL_RESULT")
    assert result["toolCallId"] == start["toolCallId"] and "sunny, 72°F" in result["content"]
    assert out["result"]["response"] == ANSWER
    # The conversation the client built from the events: the call, its result, the answer.
    messages = out["messages"]
    assert any(any(c["function"]["name"] == "get_weather" for c in m.get("toolCalls") or []) for m in messages)
    assert any(m["role"] == "tool" and "sunny" in m["content"] for m in messages)
    assert any(m["role"] == "assistant" and ANSWER in (m.get("content") or "") for m in messages)
