"""The README's tool-using agent, run through AgentRunner offline.

    python examples/tool_agent.py

The agent asks the model, runs the tools it calls, and answers. A scripted model stands in for
the real one (set OPENAI_API_KEY and pass --live to use OpenAI instead); the run's events are
printed as a timeline and its state goes to a SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    Tool,
    ToolRegistry,
)
from agent_runtime_core.events import format_timeline
from agent_runtime_core.llm import get_llm_client, use_llm_client
from agent_runtime_core.state import SQLiteStateStore
from agent_runtime_core.testing import (
    ScriptedLLMClient,
    ScriptedModel,
    ScriptRequest,
    call_tool,
    reply,
)


def get_weather(location: str) -> str:
    """Get the current weather for a location."""
    return f"The weather in {location} is sunny, 72°F"


def search_web(query: str) -> str:
    """Search the web for information."""
    return f"Search results for: {query}"


tools = ToolRegistry([Tool.from_function(get_weather), Tool.from_function(search_web)])


class ToolAgent(AgentRuntime):
    """Calls the model with tools until it answers; reports each tool call and result."""

    key = "tool-agent"

    async def run(self, ctx: RunContext) -> RunResult:
        llm = get_llm_client()
        messages: list[dict[str, Any]] = list(ctx.input_messages)
        while True:
            response = await llm.generate(messages, tools=tools.to_openai_format())
            messages.append(response.message)
            if not response.tool_calls:
                break
            for call in response.tool_calls:
                name = call["function"]["name"]
                await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": call["id"], "name": name, "arguments": call["function"]["arguments"]})
                result = await tools.execute(name, call["function"]["arguments"])
                await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": call["id"], "name": name, "result": str(result)})
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": response.content})
        return RunResult(final_output={"response": response.content}, final_messages=messages)


def scripted_model() -> ScriptedModel:
    def answer(request: ScriptRequest) -> str:
        return f"{request.tool_results[-1].content}. Enjoy Paris!"

    return ScriptedModel([call_tool("get_weather", {"location": "Paris"}), reply(answer)])


async def main(live: bool) -> None:
    client = get_llm_client("openai") if live else ScriptedLLMClient(scripted_model())
    with tempfile.TemporaryDirectory() as tmp, use_llm_client(client):
        runner = AgentRunner(RunnerConfig(max_retries=1), state_store=SQLiteStateStore(Path(tmp) / "state.db"))
        result = await runner.execute(ToolAgent(), input_data="What's the weather in Paris?")
        print(format_timeline(await runner.event_bus.get_events(result.run_id or "")))
        print(f"\n{result.status}: {result.final_output['response']}")
        await runner.state_store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="use the real OpenAI model (needs OPENAI_API_KEY)")
    asyncio.run(main(parser.parse_args().live))
