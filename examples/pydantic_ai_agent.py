"""A Pydantic AI agent on agent-runtime-core, offline.

Starts the core's loopback OpenAI-compatible server with the scripted weather model, builds a
`pydantic_ai.Agent` with the `get_weather` tool whose `OpenAIChatModel` is bound to the server
through its own `AsyncOpenAI` client (no environment variable, no key, no Logfire), runs it
through `AgentRunner` and prints the run's events as a timeline.

    pip install ./adapters/pydantic_ai      # or: pip install "agent-runtime-core[pydantic-ai]"
    python examples/pydantic_ai_agent.py
"""

from __future__ import annotations

import asyncio

from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import format_timeline
from agent_runtime_core.testing import OpenAICompatibleServer
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_pydantic_ai import PydanticAIRuntime


async def main() -> None:
    with OpenAICompatibleServer(weather_model()) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        agent = Agent(
            OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)),
            name="weather",
            instructions="Answer weather questions with the get_weather tool.",
            tools=[get_weather],
        )
        runtime = PydanticAIRuntime(agent, key="weather-agent")
        runner = AgentRunner()
        result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
        assert result.run_id is not None
        print(format_timeline(await runner.event_bus.get_events(result.run_id)))
        print(f"\n{result.status}: {result.final_output['response']}")
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
