"""A child process for the crash tests: runs the weather agent against the parent's server with a
SQLite state store, optionally killing itself (SIGKILL) inside the tool.

Usage: python crash_child.py BASE_URL DB_PATH RUN_ID TOOL_LOG (crash|ok)

Prints one JSON line: the run's status, final output and event types.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from google.adk.agents import LlmAgent
from scenarios import make_model

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import SQLiteStateStore
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, weather_for
from agent_runtime_google_adk import GoogleADKRuntime


async def main(base_url: str, db_path: str, run_id: str, tool_log: str, mode: str) -> None:
    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: The city's name, e.g. Paris.
        """
        with open(tool_log, "a") as f:
            f.write(f"{os.getpid()} {city}\n")
        if mode == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        return weather_for(city)

    agent = LlmAgent(name="weather", instruction="Use get_weather.", tools=[get_weather], model=make_model(base_url))
    store = SQLiteStateStore(db_path)
    runner = AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=60), event_bus=InMemoryEventBus(), state_store=store)
    try:
        result = await runner.execute(GoogleADKRuntime(agent, key="crash-weather"), run_id, WEATHER_QUESTION)
        events = await runner.event_bus.get_events(run_id)
        print(json.dumps({
            "status": str(result.status),
            "final_output": result.final_output,
            "error": result.error.message if result.error else None,
            "events": [e.type.value for e in events],
        }))
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
