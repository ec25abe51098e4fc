"""A Google ADK agent on agent-runtime-core, offline.

Starts the core's loopback OpenAI-compatible server with the scripted weather model, builds an ADK
`LlmAgent` with the plain function `get_weather` as its tool and ADK's `LiteLlm` model pointed at
the server, runs it through `AgentRunner` and prints the run's events as a timeline. Then the same
agent with a tool that asks for confirmation: the run stops RUN_INTERRUPTED and
`runner.resume(run_id, True)` lets the tool run.

    pip install ./adapters/google_adk     # or: pip install "agent-runtime-core[google-adk]"
    python examples/google_adk_agent.py
"""

from __future__ import annotations

import asyncio

from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm
from google.adk.tools import FunctionTool

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import format_timeline
from agent_runtime_core.testing import OpenAICompatibleServer
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_google_adk import GoogleADKRuntime


async def main() -> None:
    with OpenAICompatibleServer(weather_model()) as server:
        model = LiteLlm(model="openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-test")
        agent = LlmAgent(name="weather", model=model, instruction="Answer with get_weather.", tools=[get_weather])
        runner = AgentRunner()
        result = await runner.execute(GoogleADKRuntime(agent, key="weather-agent"), input_data=WEATHER_QUESTION)
        assert result.run_id is not None
        print(format_timeline(await runner.event_bus.get_events(result.run_id)))
        print(f"\n{result.status}: {result.final_output['response']}")

    with OpenAICompatibleServer(weather_model()) as server:
        model = LiteLlm(model="openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-test")
        careful = LlmAgent(
            name="weather", model=model, instruction="Answer with get_weather.",
            tools=[FunctionTool(get_weather, require_confirmation=True)],
        )
        runtime = GoogleADKRuntime(careful, key="careful-weather-agent")
        paused = await runner.execute(runtime, "careful-run", WEATHER_QUESTION)
        assert paused.interrupt is not None
        print(f"\n{paused.status}: {paused.interrupt['question']}")
        resumed = await runner.resume("careful-run", True, agent=runtime)
        print(f"{resumed.status}: {resumed.final_output['response']}")


if __name__ == "__main__":
    asyncio.run(main())
