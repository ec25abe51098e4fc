"""A CrewAI crew run by agent-runtime-core, offline.

The crew is plain CrewAI: one agent with a `get_weather` tool and one task. `CrewAIRuntime` wraps
it, `AgentRunner` runs it, and the run's events (task and agent steps, model calls with token
usage, the tool call and its result, the answer) are printed as a timeline. The model is the
core's scripted loopback server, reached through CrewAI's real OpenAI client: no network, no key.

    pip install -e . -e adapters/crewai
    python examples/crewai_agent.py
"""

from __future__ import annotations

import asyncio
import logging

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import format_timeline
from agent_runtime_core.testing.conformance import get_weather
from agent_runtime_core.testing.scripted import ScriptedModel, call_tool, reply
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer
from agent_runtime_crewai import CrewAIRuntime


def build_crew(base_url: str):  # -> crewai.Crew
    """A native CrewAI crew: the user's question becomes the task through `{input}`."""
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    llm = LLM(model="openai/scripted-weather", base_url=base_url, api_key="sk-test")
    forecaster = Agent(
        role="Forecaster",
        goal="Tell people the current weather.",
        backstory="You always check the weather with your tool.",
        tools=[tool("get_weather")(get_weather)],
        llm=llm,
        max_iter=4,
    )
    task = Task(
        description="Answer the user: {input}",
        expected_output="One sentence about the weather.",
        agent=forecaster,
    )
    return Crew(agents=[forecaster], tasks=[task])


def scripted_model() -> ScriptedModel:
    """Stands in for a real model: first call `get_weather`, then answer from its result."""
    return ScriptedModel(
        [
            call_tool("get_weather", {"city": "Paris"}),
            reply(lambda request: f"The weather in Paris: {request.tool_results[-1].content}."),
        ],
        model="scripted-weather",
    )


async def main() -> None:
    # CrewAI warns that it does not know the scripted model's context window; a real one it knows.
    logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)
    with OpenAICompatibleServer(scripted_model()) as server:
        runtime = CrewAIRuntime(build_crew(server.base_url), key="weather-crew")
        runner = AgentRunner()
        result = await runner.execute(runtime, input_data="What's the weather in Paris?")
        events = await runner.event_bus.get_events(result.run_id)
        print(format_timeline(events))
        print()
        print(f"status: {result.status}")
        print(f"answer: {result.final_output['response']}")
        print(f"model calls: {server.model_calls}")


if __name__ == "__main__":
    asyncio.run(main())
