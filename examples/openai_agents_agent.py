"""An OpenAI Agents SDK agent on agent-runtime-core, offline.

Starts the core's loopback OpenAI-compatible server with the scripted weather model, builds an
`agents.Agent` with a `function_tool(get_weather)` whose model is bound to the server through its
own `AsyncOpenAI` client (no environment variable, no process-global client), runs it through
`AgentRunner` and prints the run's events as a timeline.

    pip install ./adapters/openai_agents     # or: pip install "agent-runtime-core[openai-agents]"
    python examples/openai_agents_agent.py
"""

from __future__ import annotations

import asyncio

from agents import Agent, OpenAIResponsesModel, function_tool
from openai import AsyncOpenAI

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import format_timeline
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer
from agent_runtime_openai_agents import OpenAIAgentsRuntime


async def main() -> None:
    with OpenAICompatibleServer(weather_model()) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        agent = Agent(
            name="weather",
            instructions="Answer weather questions with the get_weather tool.",
            tools=[function_tool(get_weather)],
            model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client),
        )
        runtime = OpenAIAgentsRuntime(agent, key="weather-agent")  # trace export to OpenAI: off
        runner = AgentRunner()
        result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
        assert result.run_id is not None
        print(format_timeline(await runner.event_bus.get_events(result.run_id)))
        print(f"\n{result.status}: {result.final_output['response']}")
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
