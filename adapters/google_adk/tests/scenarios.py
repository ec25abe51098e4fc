"""The conformance scenarios built natively with Google ADK.

Plain functions (no pytest fixtures), so the root conformance suite can import them: each takes the
loopback server's `base_url` and returns a `GoogleADKRuntime` whose agents talk to it through ADK's
real `LiteLlm` model (LiteLLM's OpenAI provider, `/v1/chat/completions`, streamed).
"""

from __future__ import annotations

from typing import Any

from google.adk.agents import LlmAgent, SequentialAgent
from google.adk.models.lite_llm import LiteLlm
from google.adk.tools import FunctionTool

from agent_runtime_core.testing import ScriptedModel, ScriptRequest, Turn, call_tool, reply
from agent_runtime_core.testing.conformance import (
    get_weather,
    get_weather_failing,
    tool_result_text,
)
from agent_runtime_google_adk import GoogleADKRuntime

__all__ = [
    "SEQUENTIAL_ANSWER",
    "build_approval_runtime",
    "build_failing_tool_runtime",
    "build_sequential_runtime",
    "build_weather_runtime",
    "make_model",
    "sequential_model",
]

MODEL_NAME = "gpt-4o-mini"


def make_model(base_url: str) -> LiteLlm:
    """ADK's LiteLLM model for the loopback server (no env var, no key of ours)."""
    return LiteLlm(model=f"openai/{MODEL_NAME}", api_base=base_url, api_key="sk-test-google-adk")


def build_weather_runtime(base_url: str, *, key: str = "adk-weather", **kwargs: Any) -> GoogleADKRuntime:
    """The weather scenario: one `LlmAgent` with `get_weather`."""
    agent = LlmAgent(name="weather", model=make_model(base_url), instruction="Answer weather questions with get_weather.", tools=[get_weather])
    return GoogleADKRuntime(agent, key=key, **kwargs)


def build_failing_tool_runtime(base_url: str, *, key: str = "adk-failing", **kwargs: Any) -> GoogleADKRuntime:
    """The failing-tool scenario: the agent's `get_weather` always raises."""

    def get_weather(city: str) -> str:  # the failing tool under the scenario's tool name
        """Get the current weather for a city.

        Args:
            city: The city's name.
        """
        return get_weather_failing(city)

    agent = LlmAgent(name="weather", model=make_model(base_url), instruction="Use get_weather.", tools=[get_weather])
    return GoogleADKRuntime(agent, key=key, **kwargs)


def build_approval_runtime(base_url: str, *, key: str = "adk-approval", **kwargs: Any) -> GoogleADKRuntime:
    """The weather scenario whose tool needs a human's confirmation (`require_confirmation=True`)."""
    agent = LlmAgent(
        name="weather", model=make_model(base_url), instruction="Use get_weather.",
        tools=[FunctionTool(get_weather, require_confirmation=True)],
    )
    return GoogleADKRuntime(agent, key=key, **kwargs)


def build_sequential_runtime(base_url: str, *, key: str = "adk-sequential", **kwargs: Any) -> GoogleADKRuntime:
    """A `SequentialAgent` with two sub-agents: a researcher that calls `get_weather`, then a
    writer that answers (serve `sequential_model()`)."""
    model = make_model(base_url)
    researcher = LlmAgent(name="researcher", model=model, instruction="Look the weather up with get_weather.", tools=[get_weather])
    writer = LlmAgent(name="writer", model=model, instruction="Write the answer.")
    return GoogleADKRuntime(SequentialAgent(name="pipeline", sub_agents=[researcher, writer]), key=key, **kwargs)


SEQUENTIAL_ANSWER = "Report: the weather in Paris is Sunny, 22°C in Paris."


def sequential_model() -> ScriptedModel:
    """The pipeline's model: the researcher (the request offering `get_weather`) calls it, then
    says what it found; the writer (no tools) writes the report from what it was told."""

    def route(request: ScriptRequest) -> Turn:
        if "get_weather" in request.tool_names:
            results = request.tool_results
            if not results:
                return call_tool("get_weather", {"city": "Paris"})
            return reply(f"Found: {tool_result_text(results[-1].content)}")
        return reply(SEQUENTIAL_ANSWER)

    return ScriptedModel([route] * 8)
