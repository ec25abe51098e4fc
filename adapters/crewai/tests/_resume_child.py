"""Child process of test_resume: run the two-step crew against a SQLite state store.

Usage: python _resume_child.py <base_url> <sqlite_path> <run_id>. The parent SIGKILLs it while
task 2's model call is in flight.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import scenarios  # noqa: E402

from agent_runtime_core import AgentRunner, RunnerConfig  # noqa: E402
from agent_runtime_core.state.sqlite import SQLiteStateStore  # noqa: E402


async def main(base_url: str, db_path: str, run_id: str) -> None:
    store = SQLiteStateStore(db_path)
    runner = AgentRunner(RunnerConfig(max_retries=0), state_store=store)
    runtime = scenarios.build_two_step_runtime(base_url)
    print("child: running", flush=True)
    result = await runner.execute(runtime, run_id, "What's the weather in Lisbon?")
    print("child: finished (should have been killed)", result.status, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
