"""The conformance scenarios built natively with the OpenAI Agents SDK.

Plain functions (no pytest fixtures), so the root conformance suite can import them: each takes the
loopback server's `base_url` and returns an `OpenAIAgentsRuntime` whose agents talk to it through
the SDK's real `AsyncOpenAI` client and `OpenAIResponsesModel` (the Responses API, streamed).
"""

from __future__ import annotations

from typing import Any

from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, function_tool
from openai import AsyncOpenAI

from agent_runtime_core.testing.conformance import get_weather, get_weather_failing
from agent_runtime_core.testing.scripted import ScriptedModel, ScriptRequest, call_tool, reply
from agent_runtime_openai_agents import OpenAIAgentsRuntime

__all__ = [
    "HANDOFF_ANSWER",
    "build_approval_runtime",
    "build_failing_tool_runtime",
    "build_handoff_runtime",
    "build_weather_runtime",
    "close_clients",
    "handoff_model",
    "make_client",
    "make_model",
]

MODEL_NAME = "gpt-4o-mini"

_clients: list[AsyncOpenAI] = []


def make_client(base_url: str) -> AsyncOpenAI:
    """The SDK's real OpenAI client for the loopback server (closed by `close_clients`)."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-test-openai-agents", max_retries=0)
    _clients.append(client)
    return client


async def close_clients() -> None:
    """Close every client made by `make_client` (their sockets), e.g. after each test."""
    while _clients:
        await _clients.pop().close()


def make_model(base_url: str, *, chat_completions: bool = False) -> Any:
    """A model bound to `base_url` with the SDK's real OpenAI client (no env var, no global)."""
    client = make_client(base_url)
    if chat_completions:
        return OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client)
    return OpenAIResponsesModel(model=MODEL_NAME, openai_client=client)


def build_weather_runtime(base_url: str, *, key: str = "oa-weather", chat_completions: bool = False, **kwargs: Any) -> OpenAIAgentsRuntime:
    """The weather scenario: one agent with `get_weather`."""
    agent = Agent(
        name="weather",
        instructions="Answer weather questions with the get_weather tool.",
        tools=[function_tool(get_weather)],
        model=make_model(base_url, chat_completions=chat_completions),
    )
    return OpenAIAgentsRuntime(agent, key=key, **kwargs)


def build_failing_tool_runtime(base_url: str, *, key: str = "oa-failing", **kwargs: Any) -> OpenAIAgentsRuntime:
    """The failing-tool scenario: the agent's `get_weather` always raises."""
    tool = function_tool(get_weather_failing, name_override="get_weather")
    agent = Agent(name="weather", instructions="Use get_weather.", tools=[tool], model=make_model(base_url))
    return OpenAIAgentsRuntime(agent, key=key, **kwargs)


def build_approval_runtime(base_url: str, *, key: str = "oa-approval", **kwargs: Any) -> OpenAIAgentsRuntime:
    """The weather scenario whose tool needs a human's approval (`needs_approval=True`)."""
    agent = Agent(
        name="weather",
        instructions="Use get_weather.",
        tools=[function_tool(get_weather, needs_approval=True)],
        model=make_model(base_url),
    )
    return OpenAIAgentsRuntime(agent, key=key, **kwargs)


HANDOFF_ANSWER = "The weather in Paris: Sunny, 22°C in Paris."


def handoff_model() -> ScriptedModel:
    """The two-step workflow's model: triage hands off to the weather agent, which calls
    `get_weather` and answers."""

    def answer(request: ScriptRequest) -> str:
        return f"The weather in Paris: {request.tool_results[-1].content}."

    return ScriptedModel(
        [
            call_tool("transfer_to_weather_agent", {}),
            call_tool("get_weather", {"city": "Paris"}),
            reply(answer),
        ]
    )


def build_handoff_runtime(base_url: str, *, key: str = "oa-handoff", **kwargs: Any) -> OpenAIAgentsRuntime:
    """The two-step workflow: a triage agent hands off to a weather agent (serve `handoff_model()`)."""
    model = make_model(base_url)
    weather = Agent(
        name="weather_agent",
        instructions="Answer with the get_weather tool.",
        tools=[function_tool(get_weather)],
        model=model,
    )
    triage = Agent(name="triage", instructions="Hand weather questions to weather_agent.", handoffs=[weather], model=model)
    return OpenAIAgentsRuntime(triage, key=key, **kwargs)
