"""The conformance scenarios built natively with Pydantic AI.

Plain functions (no pytest fixtures), so the root conformance suite can import them: each takes the
loopback server's `base_url` and returns a `PydanticAIRuntime` whose agent talks to it through
Pydantic AI's real `OpenAIChatModel` (the openai SDK's client, streamed chat completions).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agent_runtime_core.testing.conformance import get_weather, get_weather_failing
from agent_runtime_pydantic_ai import PydanticAIRuntime

__all__ = [
    "Forecast",
    "build_approval_runtime",
    "build_failing_tool_runtime",
    "build_retry_tool_runtime",
    "build_structured_runtime",
    "build_weather_runtime",
    "close_clients",
    "make_model",
]

MODEL_NAME = "gpt-4o-mini"

_clients: list[Any] = []


async def close_clients() -> None:
    """Close every client made by `make_model` (their sockets), e.g. after each test."""
    while _clients:
        await _clients.pop().close()


def make_model(base_url: str) -> OpenAIChatModel:
    """Pydantic AI's OpenAI model bound to `base_url` (no env var, no global, no retries)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="sk-test-pydantic-ai", max_retries=0)
    _clients.append(client)
    return OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(openai_client=client))


def build_weather_runtime(base_url: str, *, key: str = "pa-weather", **kwargs: Any) -> PydanticAIRuntime:
    """The weather scenario: one agent with `get_weather`."""
    agent = Agent(make_model(base_url), name="weather", instructions="Answer weather questions with get_weather.", tools=[get_weather])
    return PydanticAIRuntime(agent, key=key, **kwargs)


def build_failing_tool_runtime(base_url: str, *, key: str = "pa-failing", **kwargs: Any) -> PydanticAIRuntime:
    """The failing-tool scenario: `get_weather` always raises (Pydantic AI fails the run)."""
    agent = Agent(make_model(base_url), name="weather", instructions="Use get_weather.")
    agent.tool_plain(name="get_weather")(get_weather_failing)
    return PydanticAIRuntime(agent, key=key, **kwargs)


def build_retry_tool_runtime(base_url: str, *, key: str = "pa-retry", **kwargs: Any) -> PydanticAIRuntime:
    """The failing tool the Pydantic AI way: it raises `ModelRetry`, the model sees the error."""
    agent = Agent(make_model(base_url), name="weather", instructions="Use get_weather.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: The city's name, e.g. Paris.
        """
        raise ModelRetry(f"weather service has no data for {city}")

    return PydanticAIRuntime(agent, key=key, **kwargs)


def build_approval_runtime(base_url: str, *, key: str = "pa-approval", **kwargs: Any) -> PydanticAIRuntime:
    """The weather scenario whose tool needs a human's approval (`requires_approval=True`)."""
    agent = Agent(make_model(base_url), name="weather", instructions="Use get_weather.")
    agent.tool_plain(requires_approval=True)(get_weather)
    return PydanticAIRuntime(agent, key=key, **kwargs)


class Forecast(BaseModel):
    """The structured answer of the structured-output scenario."""

    city: str
    summary: str
    temperature_c: int


def build_structured_runtime(base_url: str, *, key: str = "pa-structured", **kwargs: Any) -> PydanticAIRuntime:
    """The weather agent answering with a `Forecast` (`output_type`)."""
    agent = Agent(make_model(base_url), name="forecaster", instructions="Use get_weather.", tools=[get_weather], output_type=Forecast)
    return PydanticAIRuntime(agent, key=key, **kwargs)
