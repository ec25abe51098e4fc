"""The conformance contract every runtime (native or adapter) meets: scenarios and checks.

Each scenario is a scripted model plus what a run of it must produce. An adapter's tests build the
scenario natively in their framework, point the framework's real client at an
`OpenAICompatibleServer` serving `scenario.model()`, run it through `AgentRunner`, and call
`check_run(...)`. The grammar (payload keys, ordering rules) is `agent_runtime_core.events.grammar`,
documented in docs/events.md (and the path of a run in docs/architecture.md); `check_grammar` applies it to one execution of a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ..agent import RunResult, RunStatus
from ..events.base import TERMINAL_EVENT_TYPES, Event, EventType, tool_arguments
from ..events.grammar import GrammarError, check_events
from .scripted import ScriptedModel, ScriptRequest, Turn, call_tool, reply

__all__ = [
    "CORE_EVENT_TYPES",
    "WEATHER_ANSWER",
    "WEATHER_QUESTION",
    "WEATHER_TOOL_RESULT",
    "ConformanceError",
    "check_grammar",
    "check_weather_run",
    "core_sequence",
    "failing_tool_model",
    "get_weather",
    "get_weather_failing",
    "slow_model",
    "tool_arguments",
    "tool_result_text",
    "weather_for",
    "weather_model",
]


class ConformanceError(AssertionError):
    """A run broke the shared event grammar or a scenario's expectations."""


# -- the weather scenario ----------------------------------------------------------------------

WEATHER_QUESTION = "What's the weather in Paris?"
"""The user's message of the weather scenario."""


def weather_for(city: str) -> str:
    """What `get_weather` answers for `city`."""
    return f"Sunny, 22°C in {city}"


WEATHER_TOOL_RESULT = weather_for("Paris")
"""What the tool returns in the weather scenario."""
WEATHER_ANSWER = f"The weather in Paris: {WEATHER_TOOL_RESULT}."
"""The final answer of the weather scenario."""


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city's name, e.g. Paris.
    """
    return weather_for(city)


def get_weather_failing(city: str) -> str:
    """Get the current weather for a city (this one always fails: the failing-tool scenario).

    Args:
        city: The city's name.
    """
    raise ValueError(f"weather service has no data for {city}")


_CITY_IN_QUESTION = re.compile(r"\bin ([A-Z][\w'-]*(?: [A-Z][\w'-]*)*)\s*\?")


def _city_of(request: ScriptRequest) -> str:
    """The city the user asks about ("... in Paris?" -> "Paris"), also when a framework wraps the
    question in a prompt of its own (CrewAI's "Current Task: ..."); else the message's last word."""
    text = request.last_user_message
    found = _CITY_IN_QUESTION.findall(text)
    if found:
        return str(found[-1])
    words = text.rstrip("?!. ").split()
    return words[-1] if words else "Paris"


def tool_result_text(content: str) -> str:
    """A tool result's text as the model sees it, unwrapped from a framework's envelope: Google
    ADK sends a tool's non-dict return value as `{"result": value}` (and an error as
    `{"error": message}`); any other content is returned as it is."""
    if content.startswith("{"):
        try:
            value = json.loads(content)
        except ValueError:
            return content
        if isinstance(value, dict) and len(value) == 1:
            inner = value.get("result", value.get("error"))
            if isinstance(inner, str):
                return inner
    return content


def _answer(request: ScriptRequest) -> str:
    results = request.tool_results
    if not results:
        return "I could not get the weather."
    return f"The weather in {_city_of(request)}: {tool_result_text(results[-1].content)}."


def weather_model(model: str = "scripted-weather") -> ScriptedModel:
    """Turn 0 calls `get_weather` for the city in the question; turn 1 answers from its result.

    The city comes from the question, so concurrent runs asking about different cities each get
    their own call and answer (the concurrency scenario).
    """

    def ask(request: ScriptRequest) -> Turn:
        return call_tool("get_weather", {"city": _city_of(request)})

    return ScriptedModel([ask, reply(_answer)], model=model)


def failing_tool_model(model: str = "scripted-weather") -> ScriptedModel:
    """Like `weather_model`; the agent's tool fails, and the model answers from the error."""

    def answer(request: ScriptRequest) -> str:
        results = request.tool_results
        return f"Sorry, I could not get the weather: {tool_result_text(results[-1].content)}" if results else "Sorry."

    return ScriptedModel([call_tool("get_weather", {"city": "Atlantis"}), reply(answer)], model=model)


def slow_model(delay: float = 5.0, model: str = "scripted-weather") -> ScriptedModel:
    """The weather scenario whose first model call takes `delay` seconds (the cancel scenario:
    cancel during that call; no second model call may follow)."""

    def ask(request: ScriptRequest) -> Turn:
        return call_tool("get_weather", {"city": _city_of(request)}, delay=delay)

    return ScriptedModel([ask, reply(_answer)], model=model)


# -- checks ------------------------------------------------------------------------------------

CORE_EVENT_TYPES = frozenset(
    {
        EventType.RUN_STARTED,
        EventType.LLM_CALL_STARTED,
        EventType.LLM_CALL_COMPLETED,
        EventType.LLM_CALL_FAILED,
        EventType.TOOL_CALL,
        EventType.TOOL_RESULT,
        EventType.ASSISTANT_MESSAGE,
        *TERMINAL_EVENT_TYPES,
    }
)
"""The events every runtime emits alike; steps, deltas, progress and checkpoints vary by
framework (a LangGraph node is not a CrewAI task) and are checked for shape only."""

WEATHER_CORE_SEQUENCE = [
    EventType.RUN_STARTED,
    EventType.LLM_CALL_STARTED,
    EventType.LLM_CALL_COMPLETED,
    EventType.TOOL_CALL,
    EventType.TOOL_RESULT,
    EventType.LLM_CALL_STARTED,
    EventType.LLM_CALL_COMPLETED,
    EventType.ASSISTANT_MESSAGE,
    EventType.RUN_SUCCEEDED,
]


def core_sequence(events: Sequence[Event]) -> list[EventType]:
    """The run's event types, keeping only `CORE_EVENT_TYPES`."""
    return [e.type for e in events if e.type in CORE_EVENT_TYPES]


def _fail(message: str, events: Sequence[Event]) -> ConformanceError:
    listing = "\n".join(f"  {e.seq:>3} {e.type.value:<20} step={e.step} {json.dumps(e.payload, default=str)[:150]}" for e in events)
    return ConformanceError(f"{message}\nEvents:\n{listing}")


def check_grammar(events: Sequence[Event], *, strict: bool = False) -> None:
    """Check one execution of a run against the grammar (`agent_runtime_core.events.grammar`): it
    starts with RUN_STARTED and ends with its only terminal event, payloads have their keys, steps
    and model calls are closed when it succeeds, tool results answer calls. `strict=True` also
    checks that everything opened is closed exactly once, whatever the outcome (what runtimes
    built on `agent_runtime_core.integration` guarantee)."""
    if not events:
        raise ConformanceError("The run produced no events.")
    terminal = [e for e in events if e.type in TERMINAL_EVENT_TYPES]
    if len(terminal) != 1 or terminal[0] is not events[-1]:
        raise _fail("Exactly one terminal event, at the end, is required.", events)
    try:
        check_events(events, strict=strict)
    except GrammarError as e:
        raise _fail(str(e), events) from None


def check_weather_run(result: RunResult, events: Sequence[Event], *, city: str = "Paris") -> None:
    """Check a run of the weather scenario: grammar, core sequence, tool payloads, final answer."""
    check_grammar(events)
    if result.status is not RunStatus.SUCCEEDED:
        raise _fail(f"The run did not succeed: {result.status} {result.error}", events)
    if core_sequence(events) != WEATHER_CORE_SEQUENCE:
        raise _fail(f"Core sequence differs: {[t.name for t in core_sequence(events)]}", events)
    call = next(e for e in events if e.type is EventType.TOOL_CALL).payload
    if call["name"] != "get_weather" or call["arguments"] != {"city": city}:
        raise _fail(f"Unexpected tool call payload: {call}", events)
    tool_result = next(e for e in events if e.type is EventType.TOOL_RESULT).payload
    if tool_result.get("result") != weather_for(city):
        raise _fail(f"Unexpected tool result payload: {tool_result}", events)
    answer = f"The weather in {city}: {weather_for(city)}."
    if result.final_output.get("response") != answer:
        raise _fail(f"Final output {result.final_output!r} != {{'response': {answer!r}}}", events)
    message = next(e for e in events if e.type is EventType.ASSISTANT_MESSAGE).payload
    if message["content"] != answer:
        raise _fail(f"ASSISTANT_MESSAGE {message!r} is not the final answer.", events)
