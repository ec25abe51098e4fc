"""Child process of the crash test: run the weather scenario on a SQLite state store.

    python crash_child.py BASE_URL DB_PATH RUN_ID [--crash-in-tool MARKER]

With `--crash-in-tool`, the tool writes MARKER and SIGKILLs its own process (no cleanup, no
atexit: a real crash). Otherwise the run goes to its end and one JSON line is printed with its
status, output, the tool's invocation count and the event types.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import scenarios  # noqa: E402

from agent_runtime_core import AgentRunner, RunnerConfig  # noqa: E402
from agent_runtime_core.events.memory import InMemoryEventBus  # noqa: E402
from agent_runtime_core.state.sqlite import SQLiteStateStore  # noqa: E402
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, weather_for  # noqa: E402
from agent_runtime_langgraph import LangGraphRuntime  # noqa: E402


async def main() -> None:
    base_url, db_path, run_id = sys.argv[1:4]
    marker = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--crash-in-tool" else None
    tool_runs = 0

    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        nonlocal tool_runs
        tool_runs += 1
        if marker is not None:
            Path(marker).write_text("in tool")
            os.kill(os.getpid(), signal.SIGKILL)
        return weather_for(city)

    graph = scenarios.build_react_graph(scenarios.chat_model(base_url), [scenarios.weather_tool(get_weather)])
    runtime = LangGraphRuntime(graph, key="crash-weather")
    store = SQLiteStateStore(db_path)
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store)
    result = await runner.execute(runtime, run_id, WEATHER_QUESTION)
    events = await runner.event_bus.get_events(run_id)
    await store.close()
    print(json.dumps({
        "status": str(result.status),
        "final_output": result.final_output,
        "tool_runs": tool_runs,
        "events": [e.type.name for e in events],
        "tool_call_ids": [e.payload["tool_call_id"] for e in events if e.type.name == "TOOL_CALL"],
    }))


if __name__ == "__main__":
    asyncio.run(main())
