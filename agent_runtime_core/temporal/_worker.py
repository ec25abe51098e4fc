"""A Temporal worker for the runner: polls the engine's task queue, runs the run workflow and its
activities (at most `concurrency` attempts at once), until SIGTERM / SIGINT or `stop` is set."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ..errors import UserError
from ._activities import RunActivities
from ._workflow import AgentRunWorkflow

if TYPE_CHECKING:
    from ..runner import AgentRunner
    from ._engine import TemporalEngine

__all__ = ["serve"]


def build_worker(
    engine: TemporalEngine, runner: AgentRunner, client: object, concurrency: int, shutdown_grace_seconds: float
) -> Worker:
    """The worker: our workflow in Temporal's sandbox (with `agent_runtime_core` passed through,
    imported once per process rather than once per workflow), our activities bound to `runner`."""
    activities = RunActivities(
        runner, heartbeat_seconds=engine.heartbeat_seconds, max_result_bytes=engine.max_result_bytes
    )
    return Worker(
        client,  # type: ignore[arg-type]
        task_queue=engine.task_queue,
        workflows=[AgentRunWorkflow],
        activities=[activities.execute, activities.settle],
        max_concurrent_activities=concurrency,
        # Heartbeats leave at most this often: it bounds how soon a cancel reaches an attempt.
        max_heartbeat_throttle_interval=timedelta(seconds=engine.heartbeat_seconds),
        default_heartbeat_throttle_interval=timedelta(seconds=engine.heartbeat_seconds),
        graceful_shutdown_timeout=timedelta(seconds=shutdown_grace_seconds),
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("agent_runtime_core")
        ),
    )


async def serve(
    engine: TemporalEngine,
    runner: AgentRunner,
    concurrency: int,
    *,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
    shutdown_grace_seconds: float | None = None,
) -> None:
    """Serve until SIGTERM / SIGINT (when `handle_signals` and this is the main thread) or until
    `stop` is set. Attempts in progress get `shutdown_grace_seconds` (default the engine's) to
    finish; the rest are retried by other workers from their checkpoints."""
    grace = engine.shutdown_grace_seconds if shutdown_grace_seconds is None else shutdown_grace_seconds
    if not isinstance(concurrency, int) or concurrency < 1:
        raise UserError(f"`concurrency` must be an integer >= 1; got {concurrency!r}.")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
                pass
    try:
        worker = build_worker(engine, runner, await engine.client(), concurrency, grace)
        async with worker:
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
