"""The `agent-runtime demo` job: the README's tool-using agent, run through `AgentRunner`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .agent import AgentRuntime, RunResult
from .context import RunContext
from .events.base import Event, EventType, tool_arguments
from .llm import get_llm_client
from .tools import Tool, ToolRegistry

__all__ = ["FRAMEWORKS", "DemoToolAgent", "demo_script", "demo_tools", "format_side_by_side", "load_frameworks"]


def get_weather(location: str) -> str:
    """Get the current weather for a location."""
    return f"The weather in {location} is sunny, 72°F"


def search_web(query: str) -> str:
    """Search the web for information."""
    return f"Search results for: {query}"


def demo_tools() -> ToolRegistry:
    """The README's two tools."""
    tools = ToolRegistry()
    tools.register(Tool.from_function(get_weather))
    tools.register(Tool.from_function(search_web))
    return tools


class DemoToolAgent(AgentRuntime):
    """The README's ToolAgent, reporting each tool call and checkpointing the conversation after
    each model turn, so a re-executed run resumes without repeating finished turns."""

    def __init__(self, tools: ToolRegistry | None = None, max_turns: int = 8) -> None:
        self.tools = tools or demo_tools()
        self.max_turns = max_turns

    @property
    def key(self) -> str:
        return "tool-agent"

    async def run(self, ctx: RunContext) -> RunResult:
        llm = get_llm_client()
        checkpoint = await ctx.get_checkpoint() or {}
        messages: list[dict[str, Any]] = checkpoint.get("messages") or list(ctx.input_messages)

        for _ in range(self.max_turns):
            response = await llm.generate(messages, tools=self.tools.to_openai_format())
            messages.append(response.message)
            if not response.tool_calls:
                await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": response.content})
                return RunResult(final_output={"response": response.content}, final_messages=messages)
            for call in response.tool_calls:
                name, arguments = call["function"]["name"], call["function"]["arguments"]
                await ctx.emit(
                    EventType.TOOL_CALL,
                    {"tool_call_id": call["id"], "name": name, "arguments": tool_arguments(arguments)},
                )
                result = await self.tools.execute(name, arguments)
                await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": call["id"], "name": name, "result": str(result)})
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})
            await ctx.checkpoint({"messages": messages})
        raise RuntimeError(f"No final answer after {self.max_turns} model turns.")


def demo_script() -> Any:
    """The scripted model's part: ask for the weather tool, then answer from its result."""
    from .testing.conformance import tool_result_text
    from .testing.scripted import ScriptedModel, call_tool, reply

    def answer(request: Any) -> str:
        results = request.tool_results
        return f"Here is what I found: {tool_result_text(results[-1].content)}." if results else "I could not find anything."

    return ScriptedModel([call_tool("get_weather", {"location": "Paris"}), reply(answer)], model="scripted-demo")


def live_available() -> bool:
    """Whether `--live` can run (an OpenAI key is set)."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("AGENT_RUNTIME_OPENAI_API_KEY"))


FRAMEWORKS = [
    ("langgraph", "agent_runtime_langgraph.demo", "langgraph"),
    ("crewai", "agent_runtime_crewai.demo", "crewai"),
    ("openai-agents", "agent_runtime_openai_agents.demo", "openai-agents"),
    ("pydantic-ai", "agent_runtime_pydantic_ai.demo", "pydantic-ai"),
    ("google-adk", "agent_runtime_google_adk.demo", "google-adk"),
]
"""(name, module with `build_demo_runtime(base_url, tools)`, extra that installs it)."""


def load_frameworks() -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """The adapters whose demo module imports, and (name, extra) of those that are missing."""
    found, missing = [], []
    for name, module, extra in FRAMEWORKS:
        try:
            found.append((name, importlib.import_module(module)))
        except ImportError:
            missing.append((name, extra))
    return found, missing


def _cell(event: Event) -> str:
    p = event.payload
    if event.type in (EventType.STEP_STARTED, EventType.STEP_COMPLETED, EventType.STEP_SKIPPED, EventType.STEP_FAILED):
        return f"{event.type.value} {p.get('kind', '')}:{p.get('name', '')}"
    if event.type in (EventType.TOOL_CALL, EventType.TOOL_RESULT):
        return f"{event.type.value} {p.get('name', '')}"
    return event.type.value


def format_side_by_side(columns: Mapping[str, Sequence[Event]], width: int = 30) -> str:
    """Each runtime's events in a column (consecutive text deltas folded into one row)."""
    rendered: dict[str, list[str]] = {}
    for name, events in columns.items():
        cells: list[str] = []
        for event in events:
            cell = _cell(event)
            if event.type is EventType.ASSISTANT_DELTA and cells and cells[-1].startswith("assistant.delta"):
                count = int(cells[-1].split("×")[1]) + 1 if "×" in cells[-1] else 2
                cells[-1] = f"assistant.delta ×{count}"
            else:
                cells.append(cell)
        rendered[name] = cells
    rows = max(len(c) for c in rendered.values())

    def fit(text: str) -> str:
        return text if len(text) < width else text[: width - 2] + "…"

    lines = ["".join(f"{name:<{width}}" for name in rendered).rstrip()]
    lines.append("".join(f"{'-' * (width - 2):<{width}}" for _ in rendered).rstrip())
    for i in range(rows):
        lines.append("".join(f"{fit(cells[i]) if i < len(cells) else '':<{width}}" for cells in rendered.values()).rstrip())
    return "\n".join(lines)
