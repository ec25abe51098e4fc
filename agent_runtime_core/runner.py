"""`AgentRunner`: executes runs with events, timeouts, retries with backoff, and cancellation;
submits them to workers and follows them wherever they run.

A small facade: runs execute in the private engine (`_engine/`); submitted runs go to the runner's
`Engine` (`agent_runtime_core.engines`): our queue (`agent_runtime_core.distributed`) or Temporal
(`agent_runtime_core.temporal`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._engine.backends import default_event_bus, default_state_store
from ._engine.config import RunnerConfig
from ._engine.execution import RunEngine
from ._json import dumps_bounded
from .agent import AgentRuntime, RunResult
from .distributed import client
from .engines import Engine, QueueEngine, engine_from_settings
from .errors import UserError
from .events.base import Event, EventBus
from .queue.base import RunQueue
from .registry import get_runtime
from .state.base import StateStore
from .tracing import default_trace_sink
from .tracing.base import TraceSink

if TYPE_CHECKING:
    from .distributed.worker import WorkerConfig

__all__ = ["MAX_RESUME_BYTES", "AgentRunner", "RunnerConfig"]

MAX_RESUME_BYTES = 1_000_000
"""Largest human answer `AgentRunner.resume` accepts: 1 MB of JSON."""

_Input = dict[str, Any] | list[dict[str, Any]] | str | None


class AgentRunner:
    """Executes agent runs: emits their events, saves their checkpoints, enforces timeouts,
    retries failures with exponential backoff, and cancels on request.

    Backends default to those named by `configure()` (in-memory unless set otherwise). Many runs
    may execute at once on one runner; their events and state never mix.

    `engine` chooses where submitted runs execute: a `QueueEngine` (our queue; `queue=` is its
    shorthand) or `agent_runtime_core.temporal.TemporalEngine`; default the one named by
    `configure(engine=...)`. `submit / wait / events / cancel / resume / serve` are the same calls
    on every engine.
    """

    def __init__(
        self,
        config: RunnerConfig | None = None,
        *,
        event_bus: EventBus | None = None,
        state_store: StateStore | None = None,
        trace_sink: TraceSink | None = None,
        queue: RunQueue | None = None,
        engine: Engine | None = None,
    ) -> None:
        if engine is not None and queue is not None:
            raise UserError("Pass `engine=` or `queue=` (shorthand for `engine=QueueEngine(queue)`), not both.")
        if engine is not None and not isinstance(engine, Engine):
            raise TypeError(f"`engine` must be an Engine (QueueEngine, TemporalEngine); got {type(engine).__name__}.")
        self.engine: Engine = engine if engine is not None else (
            QueueEngine(queue) if queue is not None else engine_from_settings()
        )
        self._engine = RunEngine(
            config or RunnerConfig(),
            event_bus if event_bus is not None else default_event_bus(),
            state_store if state_store is not None else default_state_store(),
            # None: the default sink, if there is anything to trace to (an OpenTelemetry
            # TracerProvider the application set, or Langfuse by configure()).
            trace_sink if trace_sink is not None else default_trace_sink(),
        )

    def __repr__(self) -> str:
        return (
            f"AgentRunner(event_bus={self.event_bus!r}, state_store={self.state_store!r}, "
            f"trace_sink={self.trace_sink!r}, engine={self.engine!r}, active_runs={self._engine.active_runs})"
        )

    @property
    def config(self) -> RunnerConfig:
        """How runs are treated: time limit, retries, cancellation grace."""
        return self._engine.config

    @property
    def event_bus(self) -> EventBus:
        """Where the runs' events go (and are read back from)."""
        return self._engine.event_bus

    @property
    def state_store(self) -> StateStore:
        """Where checkpoints and recorded results are kept."""
        return self._engine.state_store

    @property
    def trace_sink(self) -> TraceSink | None:
        """Where events are traced, if anywhere."""
        return self._engine.trace_sink

    @property
    def queue(self) -> RunQueue:
        """Where `submit()` puts runs and `serve()` takes them: the `queue=` given, else the one
        named by `configure(queue_backend=...)` (built on first use). Only with a `QueueEngine`."""
        if not isinstance(self.engine, QueueEngine):
            raise UserError(f"This runner's runs go to {self.engine!r}, not to a queue.")
        return self.engine.queue

    # -- running here -----------------------------------------------------------------------

    def is_running(self, run_id: str) -> bool:
        """True while `run_id` is executing on this runner."""
        return self._engine.is_running(run_id)

    async def execute(
        self,
        agent: AgentRuntime | str,
        run_id: str | uuid.UUID | None = None,
        input_data: _Input = None,
        *,
        metadata: dict[str, Any] | None = None,
        resume_value: Any = None,
        resuming: bool = False,
    ) -> RunResult:
        """Execute one run to its end and return its result.

        `agent` is an `AgentRuntime` or the key of a registered one. A run re-executed with the
        same `run_id` sees its last checkpoint (`ctx.get_checkpoint()`) and continues its event
        stream. Agent failures do not raise: the result carries `status` and `error`.
        """
        if isinstance(agent, str):
            agent = get_runtime(agent)
        if not isinstance(agent, AgentRuntime):
            raise TypeError(f"`agent` must be an AgentRuntime or a registered key; got {type(agent).__name__}.")
        return await self._engine.execute(
            agent, run_id, input_data, metadata=metadata, resume_value=resume_value, resuming=resuming
        )

    async def resume(
        self,
        run_id: str,
        response: Any,
        *,
        agent: AgentRuntime | str | None = None,
        input_data: _Input = None,
    ) -> RunResult:
        """Continue a run that ended RUN_INTERRUPTED, handing the agent the human's `response`,
        and return its next outcome.

        The agent sees `ctx.is_resuming` and `ctx.resume_value` and continues from its checkpoint
        (adapters map it to LangGraph's `Command(resume=...)`, OpenAI Agents' approve/reject).
        With the queue engine the run continues in this process (`agent` defaults to the
        registered agent that ran it); on Temporal the answer is sent to the run's workflow, from
        any process, and the run continues on a worker.

        Raises:
            InvalidInputError: `response` is over `MAX_RESUME_BYTES` (1 MB) of JSON, nests deeper
                than 128 levels, or holds NaN or text that is not Unicode (a lone surrogate); the
                run stays interrupted, waiting for a usable answer. Values that are not JSON
                (a datetime) are measured as their `str()`.
            UserError: The run is not waiting for a human.
        """
        dumps_bounded(response, what="The resume answer", max_bytes=MAX_RESUME_BYTES, default=str)
        return await self.engine.resume(self, str(run_id), response, agent=agent, input_data=input_data)

    def execute_sync(
        self,
        agent: AgentRuntime | str,
        run_id: str | uuid.UUID | None = None,
        input_data: _Input = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> RunResult:
        """`execute` for callers without an event loop (scripts, WSGI views, notebooks' threads)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.execute(agent, run_id, input_data, metadata=metadata))
        raise UserError("execute_sync() was called inside a running event loop; use `await runner.execute(...)`.")

    async def cancel(self, run_id: str, *, reason: str = "cancelled", grace_seconds: float | None = None) -> bool:
        """Ask a run to stop. `ctx.is_cancelled()` turns true at once; if the agent has not
        stopped after the grace period, its task is cancelled.

        A run executing elsewhere is reached through the engine (on Redis, whichever worker holds
        it cancels it; a run not yet started is recorded CANCELLED by the worker that takes it;
        on Temporal, the run's workflow is cancelled and the cancel reaches the agent through its
        activity). Returns False when the run is neither executing here nor reachable (no queue
        in use, or the run already finished)."""
        run_id = str(run_id)
        if self._engine.cancel(run_id, reason, grace_seconds):
            return True
        return await self.engine.cancel(self, run_id, reason)

    # -- runs on workers (see agent_runtime_core.distributed) -------------------------------

    async def submit(
        self,
        agent_key: str,
        input_data: _Input = None,
        run_id: str | uuid.UUID | None = None,
        **options: Any,
    ) -> str:
        """Start a run on the runner's engine and return its id: queued for a worker (see
        `distributed.submit` for `options`: `metadata`, `priority`, `delay_seconds`,
        `max_input_bytes`), or started as a Temporal workflow. Submitting a run id that is already
        known starts nothing and returns the same id."""
        return await self.engine.submit(self, agent_key, input_data, None if run_id is None else str(run_id), **options)

    async def serve(self, concurrency: int = 10, *, config: WorkerConfig | None = None, **options: Any) -> None:
        """Be a worker of the runner's engine: execute runs, `concurrency` at a time, until SIGTERM
        or SIGINT (graceful: runs in progress finish or are released). See
        `distributed.Worker.serve`, `temporal.TemporalEngine.serve`."""
        if config is not None:
            options["config"] = config
        await self.engine.serve(self, concurrency, **options)

    async def wait(self, run_id: str, timeout: float | None = None) -> RunResult:
        """The result of a submitted run once it ended or waits for a human; `TimeoutError` after
        `timeout` seconds (None: wait forever)."""
        return await self.engine.wait(self, str(run_id), timeout)

    async def events(self, run_id: str, after_seq: int = 0, *, follow: bool = True) -> AsyncIterator[Event]:
        """A run's events after `after_seq`, in order (with `follow`, until its terminal event).
        Reconnect with the last `seq` you saw to get every later event exactly once."""
        async for event in client.events(self, run_id, after_seq, follow=follow):
            yield event
