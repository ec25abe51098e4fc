"""The conformance scenarios built natively in CrewAI (importable without pytest fixtures).

The root `tests/conformance/` suite imports these: start an `OpenAICompatibleServer` with the
scenario's model, then build the runtime with `base_url=server.base_url`. Every crew uses CrewAI's
real OpenAI client (`crewai.LLM(model="openai/<name>", base_url=..., api_key=...)`).

One CrewAI-specific wrinkle: CrewAI wraps the user's text in its own task prompt, so the model
sees `"Current Task: What's the weather in Paris?\\n\\nThis is the expected criteria ... not a
summary."`. `weather_model()` here therefore returns the core's `conformance.weather_model()` when
that model finds the city inside such a prompt, and otherwise an equivalent script whose only
difference is that it finds the city by the words "in <City>?" rather than by the last word.
"""

from __future__ import annotations

import re
from typing import Any

import agent_runtime_crewai  # noqa: F401  (telemetry defaults before crewai is imported)
from agent_runtime_core.testing import conformance
from agent_runtime_core.testing.scripted import ScriptedModel, ScriptRequest, Turn, call_tool, reply
from agent_runtime_crewai import CrewAIRuntime

__all__ = [
    "MODEL_NAME",
    "TWO_STEP_ANSWER_PREFIX",
    "build_failing_tool_runtime",
    "build_two_step_crew",
    "build_two_step_runtime",
    "build_weather_crew",
    "build_weather_runtime",
    "city_of",
    "close_clients",
    "slow_model",
    "two_step_model",
    "weather_model",
]

MODEL_NAME = "scripted-weather"
"""The model name every scenario's LLM asks for (`openai/scripted-weather`)."""

TWO_STEP_ANSWER_PREFIX = "Summary:"
"""How the two-step scenario's second task (the writer) starts its answer."""

_CITY = re.compile(r"\bin ([A-Z][\w'-]*(?: [A-Z][\w'-]*)*)\s*\?")


def city_of(request: ScriptRequest) -> str:
    """The city of "... in <City>?" in the request's last user message ("Paris" if none)."""
    found = _CITY.findall(request.last_user_message)
    return found[-1] if found else "Paris"


def _answer(request: ScriptRequest) -> str:
    results = request.tool_results
    if not results:
        return "I could not get the weather."
    return f"The weather in {city_of(request)}: {results[-1].content}."


def _core_handles_crewai_prompt() -> bool:
    probe = conformance.weather_model()
    prompt = (
        "\nCurrent Task: What's the weather in Oslo?\n\nThis is the expected criteria for your final "
        "answer: one sentence\nyou MUST return the actual complete content as the final answer, not a summary."
    )
    resolved = probe.resolve([{"role": "user", "content": prompt}], [], MODEL_NAME)
    calls = resolved.response.message.get("tool_calls") if resolved.response else None
    try:
        return '"Oslo"' in calls[0]["function"]["arguments"]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return False


def weather_model(model: str = MODEL_NAME) -> ScriptedModel:
    """The weather scenario's model: call `get_weather` for the asked city, then answer."""
    if _core_handles_crewai_prompt():
        return conformance.weather_model(model)
    return ScriptedModel(
        [lambda request: call_tool("get_weather", {"city": city_of(request)}), reply(_answer)], model=model
    )


def slow_model(delay: float = 5.0, model: str = MODEL_NAME) -> ScriptedModel:
    """The weather scenario whose first model call takes `delay` seconds (cancellation)."""
    return ScriptedModel(
        [lambda request: call_tool("get_weather", {"city": city_of(request)}, delay=delay), reply(_answer)],
        model=model,
    )


def two_step_model(model: str = MODEL_NAME, *, writer_delay: float = 0.0) -> ScriptedModel:
    """Task 1 (forecaster, has `get_weather`): call the tool, then answer. Task 2 (writer, no
    tools): answer `"Summary: <task 1's answer>"`, read from the context CrewAI gives it.

    `writer_delay` delays the writer's first attempt only (a request seen again is answered at
    once), so a run killed during task 2 can be resumed quickly.
    """

    def first(request: ScriptRequest) -> Turn:
        if "get_weather" in request.tool_names:
            return call_tool("get_weather", {"city": city_of(request)})
        found = re.search(r"The weather in [^\n]*?\.(?=\s|$)", request.last_user_message)
        context = found.group(0) if found else "no forecast in context"
        delay = writer_delay if request.attempt == 1 else 0.0
        return reply(f"{TWO_STEP_ANSWER_PREFIX} {context}", delay=delay)

    return ScriptedModel([first, reply(_answer)], model=model)


# -- crews ---------------------------------------------------------------------------------------


_llms: list[Any] = []


def _llm(base_url: str, *, stream: bool = False) -> Any:
    from crewai import LLM

    llm = LLM(model=f"openai/{MODEL_NAME}", base_url=base_url, api_key="sk-test-crewai", stream=stream, max_retries=0)
    _llms.append(llm)  # its OpenAI clients are shared by the crew's copies (closed by `close_clients`)
    return llm


async def close_clients() -> None:
    """Close the OpenAI clients of every LLM built here (CrewAI never closes them): their pooled
    sockets, also one still waiting for a model call that a cancelled run left in flight."""
    while _llms:
        llm = _llms.pop()
        sync_client, async_client = getattr(llm, "_client", None), getattr(llm, "_async_client", None)
        if sync_client is not None:
            sync_client.close()
        if async_client is not None:
            await async_client.close()


def _weather_tool(failing: bool = False) -> Any:
    from crewai.tools import tool

    return tool("get_weather")(conformance.get_weather_failing if failing else conformance.get_weather)


def build_weather_crew(base_url: str, *, stream: bool = False, failing_tool: bool = False) -> Any:
    """One forecaster agent with `get_weather`, one task: the user's question (`{input}`)."""
    from crewai import Agent, Crew, Task

    forecaster = Agent(
        role="Forecaster",
        goal="Tell people the current weather.",
        backstory="You always check the weather with your tool.",
        tools=[_weather_tool(failing_tool)],
        llm=_llm(base_url, stream=stream),
        max_iter=4,
        verbose=False,
    )
    task = Task(description="{input}", expected_output="One sentence about the weather.", agent=forecaster)
    return Crew(agents=[forecaster], tasks=[task], verbose=False)


def build_two_step_crew(base_url: str) -> Any:
    """Two tasks: the forecaster answers the user's question, then a writer summarizes it."""
    from crewai import Agent, Crew, Task

    llm = _llm(base_url)
    forecaster = Agent(
        role="Forecaster",
        goal="Tell people the current weather.",
        backstory="You always check the weather with your tool.",
        tools=[_weather_tool()],
        llm=llm,
        max_iter=4,
        verbose=False,
    )
    writer = Agent(role="Writer", goal="Summarize forecasts.", backstory="You write one-line summaries.",
                   llm=llm, max_iter=2, verbose=False)
    forecast = Task(name="forecast", description="{input}", expected_output="One sentence about the weather.",
                    agent=forecaster)
    summary = Task(name="summary", description="Summarize the forecast in one line.",
                   expected_output="One line.", agent=writer)
    return Crew(agents=[forecaster, writer], tasks=[forecast, summary], verbose=False)


def build_weather_runtime(base_url: str, *, key: str = "crewai-weather", stream: bool = False) -> CrewAIRuntime:
    """The weather scenario (serve `weather_model()`)."""
    return CrewAIRuntime(build_weather_crew(base_url, stream=stream), key=key)


def build_two_step_runtime(base_url: str, *, key: str = "crewai-two-step") -> CrewAIRuntime:
    """The two-step workflow (serve `two_step_model()`)."""
    return CrewAIRuntime(build_two_step_crew(base_url), key=key)


def build_failing_tool_runtime(base_url: str, *, key: str = "crewai-failing-tool") -> CrewAIRuntime:
    """The failing-tool scenario (serve `conformance.failing_tool_model()`)."""
    return CrewAIRuntime(build_weather_crew(base_url, failing_tool=True), key=key)


# -- human in the loop ---------------------------------------------------------------------------

FEEDBACK = "Make it shorter."
"""The feedback the review scenario's writer understands: it then answers `SHORT_ANSWER`."""

SHORT_ANSWER = "Short: sunny."


def review_model(model: str = MODEL_NAME) -> ScriptedModel:
    """`two_step_model()`, whose writer answers `SHORT_ANSWER` once it got `FEEDBACK`."""
    base = two_step_model(model)

    def first(request: ScriptRequest) -> Turn:
        if FEEDBACK in request.last_user_message:
            return reply(SHORT_ANSWER)
        return base._entries[0](request)  # type: ignore[no-any-return]

    return ScriptedModel([first, base._entries[1]], model=model)


def build_review_runtime(base_url: str, *, key: str = "crewai-review") -> CrewAIRuntime:
    """The two-step workflow whose second task (the writer's summary) has `human_input=True`
    (serve `review_model()`)."""
    crew = build_two_step_crew(base_url)
    crew.tasks[1].human_input = True
    return CrewAIRuntime(crew, key=key)
