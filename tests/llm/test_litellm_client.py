"""LiteLLMClient on the real litellm package, pointed at the loopback OpenAI-compatible server."""

from __future__ import annotations

import gc
import importlib.abc
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent_runtime_core.context import RunContext, use_run_context
from agent_runtime_core.errors import ErrorInfo
from agent_runtime_core.events.base import Event, EventType
from agent_runtime_core.llm import get_llm_client
from agent_runtime_core.llm.base import LLMClient, StreamChunkType
from agent_runtime_core.llm.litellm import LiteLLMClient, LLMError
from agent_runtime_core.testing import (
    OpenAICompatibleServer,
    ScriptedModel,
    ScriptRequest,
    call_tool,
    fail,
    reply,
)

# LiteLLM's own deprecations; and the success-logging coroutines its retry wrapper drops without
# awaiting them (a LiteLLM quirk with no effect on results), collected by `_litellm_leftovers`.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # Newer LiteLLM releases declare TypedDicts with `ReadOnly` items, which pydantic warns about.
    pytest.mark.filterwarnings("ignore:Item .* is using the .ReadOnly. qualifier:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <coroutine object Logging.async_success_handler"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(autouse=True)
def _litellm_leftovers() -> Iterator[None]:
    """Drop LiteLLM's logging queue of this test's loop and collect it here, in this module."""
    yield
    module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(module, "GLOBAL_LOGGING_WORKER", None)
    if worker is not None:
        worker._queue = None
        worker._worker_task = None
        worker._running_tasks.clear()
    gc.collect()


KEY = "sk-test-litellmclient-SECRET-0123456789"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]
CALL = {
    "id": "call_0_get_weather",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


def weather_script() -> list[Any]:
    def answer(request: ScriptRequest) -> str:
        return f"It is {request.tool_results[-1].content} in Paris."

    return [call_tool("get_weather", {"city": "Paris"}), reply(answer)]


def after_tool(result: str) -> list[dict[str, Any]]:
    return [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": CALL["id"], "content": result},
    ]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(ScriptedModel(weather_script()), api_key=KEY) as srv:
        yield srv


@pytest.fixture
async def client(server: OpenAICompatibleServer) -> AsyncIterator[LiteLLMClient]:
    yield LiteLLMClient(
        default_model="openai/scripted", api_base=server.base_url, api_key=KEY, max_retries=0
    )


async def test_generate_with_tools_then_answer(
    client: LiteLLMClient, server: OpenAICompatibleServer
) -> None:
    assert isinstance(client, LLMClient)
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True", "no price-map download at import"
    first = await client.generate(QUESTION, tools=TOOLS)
    assert first.message == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert first.finish_reason == "tool_calls"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert server.requests[0].body["model"] == "scripted"
    assert server.requests[0].body["tools"] == TOOLS

    second = await client.generate(after_tool("sunny"), tools=TOOLS)
    assert second.content == "It is sunny in Paris." and second.finish_reason == "stop"
    assert second.tool_calls == []


async def test_stream_yields_deltas_tool_calls_and_usage(client: LiteLLMClient) -> None:
    chunks = [c async for c in client.stream(QUESTION, tools=TOOLS)]
    assert [c.type for c in chunks] == [StreamChunkType.TOOL_CALL, StreamChunkType.DONE]
    assert chunks[0].tool_call == CALL
    done = chunks[-1].response
    assert done is not None and done.finish_reason == "tool_calls" and done.usage.output_tokens > 0

    chunks = [c async for c in client.stream(after_tool("cloudy"))]
    deltas = [c.text for c in chunks if c.type is StreamChunkType.TEXT_DELTA]
    assert "".join(deltas) == "It is cloudy in Paris." and len(deltas) > 1
    final = chunks[-1].response
    assert final is not None and final.content == "It is cloudy in Paris."
    assert final.usage.output_tokens == 6


async def test_rate_limit_then_success_with_retries() -> None:
    model = ScriptedModel([fail(429, "Too many requests.", retry_after=0.01), reply("ok")])
    with OpenAICompatibleServer(model) as srv:
        async with LiteLLMClient(
            default_model="openai/scripted", api_base=srv.base_url, api_key=KEY, max_retries=2
        ) as client:
            assert (await client.generate(QUESTION)).content == "ok"
        assert srv.model_calls == 2


async def test_last_error_keeps_status_and_message_without_the_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = [fail(429, f"Too many requests for {KEY}.", times=None, retry_after=0.01)]
    with OpenAICompatibleServer(script) as srv:
        async with LiteLLMClient(
            default_model="openai/scripted", api_base=srv.base_url, api_key=KEY, max_retries=1
        ) as client:
            with pytest.raises(LLMError) as info:
                await client.generate(QUESTION)
        assert srv.model_calls == 2
    error = info.value
    assert error.status_code == 429 and error.retriable is True and error.provider == "litellm"
    assert "Too many requests" in str(error) and "after 1 retry" in str(error)
    assert (
        KEY not in str(error) and KEY not in ErrorInfo.from_exception(error).to_dict()["traceback"]
    )
    assert KEY not in repr(client)
    assert "Give Feedback" not in capsys.readouterr().out, "LiteLLM's banners are off"


@pytest.mark.parametrize("fault", ["malformed_json", "truncated"])
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
async def test_malformed_or_truncated_responses_are_clear_retriable_errors(
    client: LiteLLMClient, server: OpenAICompatibleServer, fault: Any, stream: bool
) -> None:
    server.inject_fault(fault)
    with pytest.raises(LLMError) as info:
        if stream:
            _ = [c async for c in client.stream(QUESTION)]
        else:
            await client.generate(QUESTION)
    assert info.value.retriable is True and info.value.provider == "litellm"
    text = str(info.value)
    # LiteLLM's own wording differs by release: newer ones report a cut body as a connection error.
    hints = ("Expecting", "incomplete", "JSON", "malformed", "Connection error", "not completed")
    assert any(hint in text for hint in hints), text
    assert KEY not in text


async def test_calls_inside_a_run_emit_llm_events(client: LiteLLMClient) -> None:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    with use_run_context(RunContext(publish=publish)):
        await client.generate(QUESTION, tools=TOOLS)
    assert [e.type for e in events] == [EventType.LLM_CALL_STARTED, EventType.LLM_CALL_COMPLETED]
    assert events[0].payload == {"model": "openai/scripted", "provider": "litellm"}


def test_selected_by_provider_name() -> None:
    client = get_llm_client("litellm", default_model="ollama/llama2")
    assert isinstance(client, LiteLLMClient) and client.default_model == "ollama/llama2"


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "litellm" or name.startswith("litellm."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_missing_litellm_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "litellm" or n.startswith("litellm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Block(), *sys.meta_path])
    with pytest.raises(ImportError, match=r"pip install 'agent-runtime-core\[litellm\]'"):
        LiteLLMClient()
