"""Worker app of the Temporal tests (imported in-process and by `agent-runtime worker --app
temporal_app --engine temporal` in worker processes): agent `stepper` makes one model call per
step on the loopback OpenAI server and checkpoints after each, so a run executed again (on another
worker) continues after its last finished call.

Settings come from the environment: TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, TEST_REDIS_URL (the
shared event bus and state store), TEST_OPENAI_BASE_URL (the loopback model server).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    register_runtime,
)
from agent_runtime_core.llm import OpenAIClient

CONFIG = RunnerConfig(run_timeout_seconds=60, max_retries=2, retry_backoff_seconds=0.1, cancel_grace_seconds=2)
SECRET = "hunter2-temporal-private-value"  # not key-shaped: masked because it is registered


def model_client() -> OpenAIClient:
    return OpenAIClient(api_key="sk-loopback-0000000", base_url=os.environ["TEST_OPENAI_BASE_URL"],
                        default_model="scripted")


class Stepper(AgentRuntime):
    """`steps` model calls, `pause` seconds after each (stopping early when cancelled); with
    `interrupt`, asks a human after the steps and answers with what the human said; with
    `fail_first`, its first attempt raises (a retriable failure); with `stall`, its first attempt
    blocks its event loop that many seconds before returning (no heartbeat meanwhile)."""

    key = "stepper"  # type: ignore[assignment]

    def __init__(self) -> None:
        self._client: OpenAIClient | None = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, ctx: RunContext) -> RunResult:
        if self._client is None:
            self._client = model_client()
        data: dict[str, Any] = ctx.input_data or {}
        steps, pause = int(data.get("steps", 2)), float(data.get("pause", 0.0))
        checkpoint = await ctx.get_checkpoint() or {}
        done, answers = int(checkpoint.get("done", 0)), list(checkpoint.get("answers", []))
        if data.get("fail_first") and ctx.attempt == 1:
            raise ConnectionError("first attempt fails")
        for step in range(done, steps):
            if ctx.is_cancelled():
                break
            await ctx.emit(EventType.STEP_STARTED, {"name": f"step-{step}", "kind": "step", "pid": os.getpid()})
            response = await self._client.generate([{"role": "user", "content": f"{ctx.run_id} step {step}"}])
            answers.append(response.content)
            await ctx.checkpoint({"done": step + 1, "answers": answers})
            await ctx.emit(EventType.STEP_COMPLETED, {"name": f"step-{step}", "kind": "step"})
            waited = 0.0
            while waited < pause and not ctx.is_cancelled():
                await asyncio.sleep(0.02)
                waited += 0.02
        if data.get("stall") and ctx.attempt == 1:  # a worker that stops heartbeating, then goes on
            time.sleep(float(data["stall"]))  # noqa: ASYNC251 - the point: the loop is blocked
        if data.get("interrupt") and not ctx.is_resuming:
            return RunResult(interrupt={"question": "May I finish?"})
        output: dict[str, Any] = {"response": answers[-1] if answers else "", "steps": len(answers)}
        if ctx.is_resuming:
            output["human"] = ctx.resume_value
        if data.get("leak"):  # an agent that puts a secret in its output and its error text
            output["leak"] = SECRET
        return RunResult(final_output=output)


register_runtime(Stepper())


def build_runner() -> AgentRunner | None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        return None
    from agent_runtime_core.events import RedisEventBus
    from agent_runtime_core.state import RedisStateStore
    from agent_runtime_core.temporal import TemporalEngine

    engine = TemporalEngine(
        os.environ["TEMPORAL_ADDRESS"], task_queue=os.environ["TEMPORAL_TASK_QUEUE"],
        heartbeat_timeout_seconds=float(os.environ.get("TEST_HEARTBEAT_TIMEOUT", "3")), heartbeat_seconds=0.3,
        shutdown_grace_seconds=1,
    )
    return AgentRunner(CONFIG, event_bus=RedisEventBus(url, block_seconds=0.5), state_store=RedisStateStore(url),
                       engine=engine)


runner = build_runner()
