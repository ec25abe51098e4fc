"""Child process of test_hitl: resume an interrupted review run in a process of its own.

Usage: python _review_child.py <base_url> <sqlite_path> <redis_url> <run_id> <feedback>. Prints
the result as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import scenarios  # noqa: E402

from agent_runtime_core import AgentRunner, RunnerConfig  # noqa: E402
from agent_runtime_core.events.redis import RedisEventBus  # noqa: E402
from agent_runtime_core.state.sqlite import SQLiteStateStore  # noqa: E402


async def main(base_url: str, db_path: str, redis_url: str, run_id: str, feedback: str) -> None:
    store, bus = SQLiteStateStore(db_path), RedisEventBus(redis_url)
    try:
        runner = AgentRunner(RunnerConfig(max_retries=0), state_store=store, event_bus=bus)
        result = await runner.resume(run_id, feedback, agent=scenarios.build_review_runtime(base_url))
        print(json.dumps({"status": result.status.value, "interrupt": result.interrupt,
                          "error": result.error.message if result.error else None}), flush=True)
    finally:
        await bus.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
