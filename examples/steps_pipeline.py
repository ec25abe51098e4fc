"""A multi-step run that survives a crash: StepExecutor + SQLite, resumed by run id.

    python examples/steps_pipeline.py

The first execution fails in the middle (a simulated outage); the second, with the same run id and
the same SQLite file, skips the steps already done and finishes. The timeline shows STEP_SKIPPED.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from agent_runtime_core import AgentRunner, AgentRuntime, RunContext, RunnerConfig, RunResult
from agent_runtime_core.events import format_timeline
from agent_runtime_core.state import SQLiteStateStore
from agent_runtime_core.steps import Step, StepExecutor

outage = {"active": True}


class ReportAgent(AgentRuntime):
    """Fetches, summarizes and publishes; each step is checkpointed."""

    key = "report"

    async def run(self, ctx: RunContext) -> RunResult:
        results = await StepExecutor(ctx).run(
            [
                Step("fetch", self.fetch, description="Download the sales figures"),
                Step("summarize", self.summarize, retries=1, retry_delay=0.05),
                Step("publish", self.publish),
            ],
            initial_state={"region": "EMEA"},
        )
        return RunResult(final_output=results)

    async def fetch(self, ctx: RunContext, state: dict[str, Any]) -> list[int]:
        return [120, 80, 200]

    async def summarize(self, ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
        if outage["active"]:
            raise ConnectionError("summary service unavailable")
        return {"region": state["region"], "total": sum(state["fetch"])}

    async def publish(self, ctx: RunContext, state: dict[str, Any]) -> str:
        return f"Published {state['summarize']['region']} total {state['summarize']['total']}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "pipeline.db"
        first = AgentRunner(RunnerConfig(max_retries=0), state_store=SQLiteStateStore(db))
        failed = await first.execute(ReportAgent(), run_id="report-2026-11")
        print(f"first execution: {failed.status} ({failed.error.message if failed.error else ''})")
        await first.state_store.close()

        outage["active"] = False  # the service is back; a new process would do the same
        second = AgentRunner(RunnerConfig(max_retries=0), state_store=SQLiteStateStore(db))
        done = await second.execute(ReportAgent(), run_id="report-2026-11")
        print(format_timeline(await second.event_bus.get_events("report-2026-11")))
        print(f"\nsecond execution: {done.status}: {done.final_output['publish']}")
        await second.state_store.close()


if __name__ == "__main__":
    asyncio.run(main())
