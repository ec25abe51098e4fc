"""A LangGraph agent run by agent-runtime-core, offline.

The agent is LangGraph's prebuilt tool-calling agent (`langchain.agents.create_agent`, or
`langgraph.prebuilt.create_react_agent` when the `langchain` package is not installed) with
langchain-openai's real `ChatOpenAI` client, pointed at the core's loopback OpenAI-compatible
server playing a scripted weather model. `LangGraphRuntime` turns the graph into an
`AgentRuntime`; `AgentRunner` runs it and the run's events are printed as a timeline.

    pip install ./adapters/langgraph        # or: pip install "agent-runtime-core[langgraph]"
    python examples/langgraph_agent.py

`stream_usage=True` on ChatOpenAI is what makes streamed calls report token usage.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from langchain_openai import ChatOpenAI

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import format_timeline
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer
from agent_runtime_langgraph import LangGraphRuntime


def build_agent(model: ChatOpenAI, tools: list[Any]) -> Any:
    """LangGraph's current prebuilt agent (a compiled graph)."""
    try:
        from langchain.agents import create_agent
    except ImportError:  # langgraph alone: the older prebuilt agent (deprecated since 1.0)
        from langgraph.prebuilt import create_react_agent

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return create_react_agent(model, tools)
    return create_agent(model, tools, system_prompt="You answer weather questions with the tool.")


async def main() -> None:
    with OpenAICompatibleServer(weather_model()) as server:
        model = ChatOpenAI(model="scripted-weather", base_url=server.base_url, api_key="sk-test", stream_usage=True)
        runtime = LangGraphRuntime(build_agent(model, [get_weather]), key="weather-agent")
        runner = AgentRunner()
        result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
        print(format_timeline(await runner.event_bus.get_events(result.run_id)))
        print()
        print(f"status: {result.status}  model calls: {server.model_calls}")
        print(f"answer: {result.final_output['response']}")


if __name__ == "__main__":
    asyncio.run(main())
