"""Benchmark 1: what `AgentRunner.execute` adds to a trivial run, with in-memory backends.

Ours: `await runner.execute(agent)` in a loop (fresh run id each time: a RunContext, RUN_STARTED,
the agent's task with its timeout, one event from the agent, RUN_SUCCEEDED, all into an
`InMemoryEventBus`). The ceiling: the same loop calling `await agent.run(ctx)` directly, the
agent emitting its one event into the same kind of bus. The difference per run is what the
runtime costs; the target is at most 25 µs added per run.

    python -m bench.runner_overhead [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
)
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore
from bench._harness import Row, Stat, Table, ratios

TARGET_ADDED_US = 25.0


class Trivial(AgentRuntime):
    """Emits one event and returns: the least an agent can do on the event stream."""

    key = "trivial"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.PROGRESS_UPDATE, {"percent": 100})
        return RunResult(final_output={"ok": True})


async def _through_runner(runs: int) -> float:
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=InMemoryStateStore())
    agent = Trivial()
    t0 = time.perf_counter()
    for _ in range(runs):
        await runner.execute(agent)
    return time.perf_counter() - t0


async def _bare(runs: int) -> float:
    bus = InMemoryEventBus()
    agent = Trivial()
    ctx = RunContext(run_id="bare", agent_key=agent.key, publish=bus.publish)
    t0 = time.perf_counter()
    for _ in range(runs):
        await agent.run(ctx)
    return time.perf_counter() - t0


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    runs = 2_000 if quick else 40_000
    ours_s: list[float] = []
    base_s: list[float] = []

    async def main() -> None:
        await _through_runner(min(runs, 2_000))  # warm up (imports, caches)
        await _bare(min(runs, 2_000))
        for _ in range(repeats):
            gc.collect()
            ours_s.append(await _through_runner(runs))
            gc.collect()
            base_s.append(await _bare(runs))

    asyncio.run(main())
    ours = Stat([runs / s for s in ours_s])
    base = Stat([runs / s for s in base_s])
    added = Stat([(o - b) / runs * 1e6 for o, b in zip(ours_s, base_s, strict=True)])
    table = Table("1. Runner overhead: trivial agent, in-memory backends", repeats=repeats)
    table.add(Row("runs/s", ours, "runs/s", base, ratios(ours.values, base.values)))
    table.add(Row("time per run", Stat([s / runs * 1e6 for s in ours_s]), "µs",
                  Stat([s / runs * 1e6 for s in base_s]), ratios(ours_s, base_s)))
    table.add(Row("added per run", added, "µs", target=f"<= {TARGET_ADDED_US:.0f} µs",
                  met=added.median <= TARGET_ADDED_US))
    table.notes.append(f"{runs:,} runs per repeat, one after another on one event loop; baseline: "
                       "`await agent.run(ctx)` on one RunContext, its event into an InMemoryEventBus.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
