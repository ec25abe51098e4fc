"""Where submitted runs execute: the seam between `AgentRunner` and a distributed engine.

An `Engine` takes the runner's `submit / wait / cancel / resume / serve` calls; events never go
through it (every engine's runs publish to the runner's event bus, so `runner.events()` is the
same wherever a run executed). Two engines ship:

- `QueueEngine`: our run queue with leases (in memory for one process, Redis for many machines);
  the default, what `AgentRunner(queue=...)` builds.
- `agent_runtime_core.temporal.TemporalEngine`: each run a Temporal workflow [temporal extra].

`engine_from_settings()` builds the one named by `configure(engine=...)` / `AGENT_RUNTIME_ENGINE`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .agent import RunResult
from .config import get_config
from .errors import UserError
from .events.base import EventType
from .queue.base import RunQueue

if TYPE_CHECKING:
    from .distributed.worker import WorkerConfig
    from .runner import AgentRunner

__all__ = ["Engine", "QueueEngine", "engine_from_settings"]


@runtime_checkable
class Engine(Protocol):
    """Executes submitted runs somewhere and answers for them. Each call gets the runner whose
    backends (event bus, state store) and engine configuration the run uses."""

    name: str
    """Short name, as in `AGENT_RUNTIME_ENGINE`: "queue" or "temporal"."""

    async def submit(
        self, runner: AgentRunner, agent_key: str, input_data: Any, run_id: str | None, **options: Any
    ) -> str:
        """Start a run (checked first) and return its id; a run id already known starts nothing."""
        ...

    async def wait(self, runner: AgentRunner, run_id: str, timeout: float | None) -> RunResult:
        """The run's result once it ended (or waits for a human); `TimeoutError` after `timeout`."""
        ...

    async def cancel(self, runner: AgentRunner, run_id: str, reason: str) -> bool:
        """Cancel a run executing elsewhere; False when it cannot be reached or already ended."""
        ...

    async def resume(self, runner: AgentRunner, run_id: str, response: Any, **options: Any) -> RunResult:
        """Hand a run waiting for a human (RUN_INTERRUPTED) its answer; the run's next outcome."""
        ...

    async def serve(self, runner: AgentRunner, concurrency: int, **options: Any) -> None:
        """Be a worker of this engine until SIGTERM / SIGINT."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class QueueEngine:
    """Runs go on a `RunQueue` and workers (`runner.serve()`, `agent-runtime worker`) take them:
    see `agent_runtime_core.distributed`. `queue=None`: the queue named by
    `configure(queue_backend=...)`, built on first use."""

    name = "queue"

    def __init__(self, queue: RunQueue | None = None) -> None:
        self._queue = queue

    def __repr__(self) -> str:
        return f"QueueEngine(queue={self._queue!r})"

    @property
    def queue(self) -> RunQueue:
        """The queue runs go on."""
        if self._queue is None:
            from ._engine.backends import default_queue

            self._queue = default_queue()
        return self._queue

    @property
    def in_use(self) -> bool:
        """False when no queue was given and the settings name the in-memory one: then no run can
        be executing elsewhere."""
        return self._queue is not None or get_config().queue_backend != "memory"

    async def submit(
        self, runner: AgentRunner, agent_key: str, input_data: Any, run_id: str | None, **options: Any
    ) -> str:
        from .distributed import client

        return await client.submit(runner, agent_key, input_data, run_id=run_id, **options)

    async def wait(self, runner: AgentRunner, run_id: str, timeout: float | None) -> RunResult:
        from .distributed import client

        return await client.wait(runner, run_id, timeout)

    async def cancel(self, runner: AgentRunner, run_id: str, reason: str) -> bool:
        if not self.in_use:
            return False
        from .distributed import client

        return await client.request_cancel(runner, run_id, reason)

    async def resume(self, runner: AgentRunner, run_id: str, response: Any, **options: Any) -> RunResult:
        """The run continues here, in the caller's process, from its checkpoint."""
        events = await runner.event_bus.get_events(run_id)
        last = events[-1] if events else None
        if last is None or last.type is not EventType.RUN_INTERRUPTED:
            state = last.type.value if last else "no events"
            raise UserError(f"Run {run_id!r} is not waiting for a human (its last event: {state}).")
        agent = options.get("agent")
        if agent is None:
            started = [e for e in events if e.type is EventType.RUN_STARTED]
            agent = str(started[-1].payload.get("agent_key")) if started else ""
        return await runner.execute(
            agent, run_id, options.get("input_data"), resume_value=response, resuming=True
        )

    async def serve(
        self,
        runner: AgentRunner,
        concurrency: int,
        *,
        config: WorkerConfig | None = None,
        stop: asyncio.Event | None = None,
        **options: Any,
    ) -> None:
        """`distributed.Worker.serve(**options)`; setting `stop` stops it gracefully."""
        from dataclasses import replace

        from .distributed.worker import Worker, WorkerConfig

        worker = Worker(runner, self.queue, replace(config or WorkerConfig(), concurrency=concurrency))
        if stop is None:
            await worker.serve(**options)
            return

        async def stop_when_set() -> None:
            await stop.wait()
            worker.stop()

        watcher = asyncio.create_task(stop_when_set())
        try:
            await worker.serve(**options)
        finally:
            watcher.cancel()

    async def close(self) -> None:
        close = getattr(self._queue, "close", None)
        if close is not None:
            await close()


def engine_from_settings() -> Engine:
    """The engine named by `configure(engine=...)` / `AGENT_RUNTIME_ENGINE` ("queue" by default;
    "temporal" with the `temporal_*` settings)."""
    if get_config().engine == "temporal":
        from .temporal import TemporalEngine

        return TemporalEngine.from_settings()
    return QueueEngine()
