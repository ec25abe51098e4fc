"""`AgentRunner`: executes runs with events, timeouts, retries with backoff, and cancellation."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._json import dumps_bounded
from .agent import AgentRuntime, RunResult, RunStatus
from .context import RunContext, _current_context
from .errors import (
    ErrorInfo,
    InvalidInputError,
    NonRetriableError,
    RunCancelledError,
    RunTimeoutError,
    UserError,
)
from .events.base import Event, EventBus, EventType
from .messages import validate_messages
from .registry import get_runtime
from .state.base import StateStore
from .tools import ToolRegistry
from .tracing import default_trace_sink
from .tracing.base import TraceSink

if TYPE_CHECKING:
    from .queue.base import RunQueue
    from .worker import WorkerConfig

__all__ = ["MAX_RESUME_BYTES", "AgentRunner", "RunnerConfig"]

MAX_RESUME_BYTES = 1_000_000
"""Largest human answer `AgentRunner.resume` accepts: 1 MB of JSON."""

logger = logging.getLogger("agent_runtime_core.runner")


@dataclass
class RunnerConfig:
    """How the runner treats runs: time limit, retries and their backoff, cancellation grace."""

    run_timeout_seconds: float | None = 300.0
    """Time limit of one attempt; None for none. A timed-out attempt counts as a failure."""
    max_retries: int = 3
    """Attempts after the first, for failures that may pass (not `NonRetriableError`)."""
    retry_backoff_seconds: float = 1.0
    """Wait before the first retry; later waits grow by `retry_backoff_multiplier`."""
    retry_backoff_multiplier: float = 2.0
    """Growth of the wait from one retry to the next."""
    retry_backoff_max_seconds: float = 60.0
    """Ceiling of the wait between attempts."""
    retry_jitter: float = 0.1
    """Random spread of each wait, as a fraction of it (0.1 = up to +/-10%)."""
    cancel_grace_seconds: float = 5.0
    """After `cancel()`, how long an agent may take to stop by itself (seeing
    `ctx.is_cancelled()`) before its task is cancelled."""

    def __post_init__(self) -> None:
        if self.run_timeout_seconds is not None and not self.run_timeout_seconds > 0:
            raise UserError(f"`run_timeout_seconds` must be > 0 or None; got {self.run_timeout_seconds}.")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise UserError(f"`max_retries` must be an integer >= 0; got {self.max_retries!r}.")
        for name in ("retry_backoff_seconds", "retry_backoff_max_seconds", "cancel_grace_seconds", "retry_jitter"):
            if getattr(self, name) < 0:
                raise UserError(f"`{name}` must be >= 0; got {getattr(self, name)}.")
        if self.retry_backoff_multiplier < 1:
            raise UserError(f"`retry_backoff_multiplier` must be >= 1; got {self.retry_backoff_multiplier}.")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        delay = min(
            self.retry_backoff_seconds * self.retry_backoff_multiplier ** (attempt - 1),
            self.retry_backoff_max_seconds,
        )
        if self.retry_jitter:
            delay *= 1 + random.uniform(-self.retry_jitter, self.retry_jitter)
        return max(delay, 0.0)


class _ActiveRun:
    __slots__ = ("ctx", "task", "cancel_reason", "force_handle")

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.task: asyncio.Task[RunResult] | None = None
        self.cancel_reason = "cancelled"
        self.force_handle: asyncio.TimerHandle | None = None


async def _run_in_context(agent: AgentRuntime, ctx: RunContext) -> RunResult:
    _current_context.set(ctx)  # this task's own copy of the context: never leaks to other runs
    return await agent.run(ctx)


def _default_event_bus() -> EventBus:
    from .config import get_config

    config = get_config()
    backend = config.event_bus_backend
    if backend == "memory":
        from .events.memory import InMemoryEventBus

        return InMemoryEventBus()
    if backend == "redis":
        from .events.redis import RedisEventBus

        return RedisEventBus(redis_url=config.redis_url)
    raise UserError(
        f"event_bus_backend={backend!r} has no implementation in this release; pass "
        "`event_bus=` to AgentRunner or configure(event_bus_backend='memory')."
    )


def _default_queue() -> RunQueue:
    from .config import get_config

    config = get_config()
    if config.queue_backend == "redis":
        from .queue.redis import RedisQueue

        return RedisQueue(redis_url=config.redis_url)
    from .queue.memory import InMemoryQueue

    return InMemoryQueue()


def _default_state_store() -> StateStore:
    from .config import get_config

    config = get_config()
    if config.state_store_backend == "memory":
        from .state.memory import InMemoryStateStore

        return InMemoryStateStore()
    if config.state_store_backend == "sqlite":
        from .state.sqlite import SQLiteStateStore

        return SQLiteStateStore(config.sqlite_path)
    if config.state_store_backend == "redis":
        from .state.redis import RedisStateStore

        return RedisStateStore(redis_url=config.redis_url)
    raise UserError(
        f"state_store_backend={config.state_store_backend!r} has no implementation in this "
        "release; pass `state_store=` to AgentRunner or configure 'memory' or 'sqlite'."
    )


def parse_input(input_data: Any) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Normalize a run's input to (messages, metadata, input_data).

    Accepts `{"messages": [...], "metadata": {...}, ...}`, a list of messages, or a string (one
    user message). Anything else raises `InvalidInputError`.
    """
    if input_data is None:
        return [], {}, {}
    if isinstance(input_data, str):
        input_data = {"messages": [{"role": "user", "content": input_data}]}
    elif isinstance(input_data, list):
        input_data = {"messages": input_data}
    if not isinstance(input_data, dict):
        raise InvalidInputError(
            f"`input_data` must be a dict like {{'messages': [...]}}; got {type(input_data).__name__}."
        )
    messages = validate_messages(input_data.get("messages"))
    metadata = input_data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise InvalidInputError(f"`input_data['metadata']` must be a dict; got {type(metadata).__name__}.")
    return messages, metadata, input_data


class AgentRunner:
    """Executes agent runs: emits their events, saves their checkpoints, enforces timeouts,
    retries failures with exponential backoff, and cancels on request.

    Backends default to those named by `configure()` (in-memory unless set otherwise). Many runs
    may execute at once on one runner; their events and state never mix.
    """

    def __init__(
        self,
        config: RunnerConfig | None = None,
        *,
        event_bus: EventBus | None = None,
        state_store: StateStore | None = None,
        trace_sink: TraceSink | None = None,
        queue: RunQueue | None = None,
    ) -> None:
        self.config = config or RunnerConfig()
        self._queue = queue
        self.event_bus: EventBus = event_bus if event_bus is not None else _default_event_bus()
        self.state_store: StateStore = state_store if state_store is not None else _default_state_store()
        # None: the default sink, if there is anything to trace to (an OpenTelemetry TracerProvider
        # the application set, or Langfuse by configure()); see tracing.default_trace_sink.
        self.trace_sink = trace_sink if trace_sink is not None else default_trace_sink()
        self._active: dict[str, _ActiveRun] = {}
        self._sink_failures = 0

    def __repr__(self) -> str:
        return (
            f"AgentRunner(event_bus={self.event_bus!r}, state_store={self.state_store!r}, "
            f"trace_sink={self.trace_sink!r}, active_runs={len(self._active)})"
        )

    @property
    def queue(self) -> RunQueue:
        """Where `submit()` puts runs and `serve()` takes them: the `queue=` given, else the one
        named by `configure(queue_backend=...)` (built on first use)."""
        if self._queue is None:
            self._queue = _default_queue()
        return self._queue

    # -- distributed execution (see worker.py) ----------------------------------------------

    async def submit(
        self,
        agent_key: str,
        input_data: dict[str, Any] | list[dict[str, Any]] | str | None = None,
        run_id: str | uuid.UUID | None = None,
        **options: Any,
    ) -> str:
        """Queue a run for a worker and return its id; see `worker.submit` for `options`
        (`metadata`, `priority`, `delay_seconds`, `max_input_bytes`)."""
        from .worker import submit

        return await submit(self, agent_key, input_data, run_id=run_id, **options)

    async def serve(self, concurrency: int = 10, *, config: WorkerConfig | None = None, **options: Any) -> None:
        """Be a worker: execute runs from the queue, `concurrency` at a time, until SIGTERM or
        SIGINT (graceful: runs in progress finish or are released). See `worker.Worker.serve`."""
        from dataclasses import replace

        from .worker import Worker, WorkerConfig

        config = replace(config or WorkerConfig(), concurrency=concurrency)
        await Worker(self, self.queue, config).serve(**options)

    async def wait(self, run_id: str, timeout: float | None = None) -> RunResult:
        """The result of a submitted run, once a worker recorded it; `TimeoutError` after
        `timeout` seconds (None: wait forever)."""
        from .worker import wait

        return await wait(self, run_id, timeout)

    async def events(self, run_id: str, after_seq: int = 0, *, follow: bool = True) -> AsyncIterator[Event]:
        """A run's events after `after_seq`, in order (with `follow`, until its terminal event).
        Reconnect with the last `seq` you saw to get every later event exactly once."""
        from .worker import events

        async for event in events(self, run_id, after_seq, follow=follow):
            yield event

    async def _publish(self, event: Event) -> None:
        await self.event_bus.publish(event)
        if self.trace_sink is not None:
            try:
                await self.trace_sink.trace(event.to_dict())
            except Exception:
                self._sink_failures += 1
                if self._sink_failures <= 3 or self._sink_failures % 1000 == 0:
                    logger.exception("Trace sink %r failed (%d failures so far); the run goes on.",
                                     self.trace_sink, self._sink_failures)

    # -- running ----------------------------------------------------------------------------

    def is_running(self, run_id: str) -> bool:
        """True while `run_id` is executing on this runner."""
        return run_id in self._active

    async def execute(
        self,
        agent: AgentRuntime | str,
        run_id: str | uuid.UUID | None = None,
        input_data: dict[str, Any] | list[dict[str, Any]] | str | None = None,
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
        run_id = str(run_id) if run_id is not None else str(uuid.uuid4())
        if run_id in self._active:
            raise UserError(f"Run {run_id!r} is already executing on this runner.")
        ctx = RunContext(
            run_id=run_id,
            agent_key=agent.key,
            publish=self._publish,
            state_store=self.state_store,
            tools=tools if isinstance(tools := getattr(agent, "tools", None), ToolRegistry) else None,
        )
        # Reserved before the first await, so a second execute() of this run id cannot slip in.
        active = self._active[run_id] = _ActiveRun(ctx)
        try:
            ctx._seq = await self.event_bus.last_seq(run_id)
            try:
                messages, input_metadata, raw_input = parse_input(input_data)
            except InvalidInputError as e:
                await self._safe_emit(ctx, EventType.RUN_STARTED, {"agent_key": agent.key, "attempt": 1})
                return await self._finish_failed(ctx, ErrorInfo.from_exception(e), attempts=1)
            ctx.input_messages = messages
            ctx.metadata = {**input_metadata, **(metadata or {})}
            ctx.input_data = raw_input
            ctx.resume_value, ctx.is_resuming = resume_value, resuming
            return await self._attempts(agent, ctx, active)
        finally:
            if active.force_handle is not None:
                active.force_handle.cancel()
            if self._active.get(run_id) is active:
                del self._active[run_id]

    async def resume(
        self,
        run_id: str,
        response: Any,
        *,
        agent: AgentRuntime | str | None = None,
        input_data: dict[str, Any] | list[dict[str, Any]] | str | None = None,
    ) -> RunResult:
        """Continue a run that ended RUN_INTERRUPTED, handing the agent the human's `response`.

        The agent sees `ctx.is_resuming` and `ctx.resume_value` and continues from its checkpoint
        (adapters map it to LangGraph's `Command(resume=...)`, OpenAI Agents' approve/reject).
        `agent` defaults to the registered agent that ran it.

        Raises:
            InvalidInputError: `response` is over `MAX_RESUME_BYTES` (1 MB) of JSON, nests deeper
                than 128 levels, or holds NaN or text that is not Unicode (a lone surrogate); the
                run stays interrupted, waiting for a usable answer. Values that are not JSON
                (a datetime) are measured as their `str()`.
            UserError: The run is not waiting for a human.
        """
        dumps_bounded(response, what="The resume answer", max_bytes=MAX_RESUME_BYTES, default=str)
        run_id = str(run_id)
        events = await self.event_bus.get_events(run_id)
        last = events[-1] if events else None
        if last is None or last.type is not EventType.RUN_INTERRUPTED:
            state = last.type.value if last else "no events"
            raise UserError(f"Run {run_id!r} is not waiting for a human (its last event: {state}).")
        if agent is None:
            started = [e for e in events if e.type is EventType.RUN_STARTED]
            agent = str(started[-1].payload.get("agent_key")) if started else ""
        return await self.execute(agent, run_id, input_data, resume_value=response, resuming=True)

    def execute_sync(
        self,
        agent: AgentRuntime | str,
        run_id: str | uuid.UUID | None = None,
        input_data: dict[str, Any] | list[dict[str, Any]] | str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> RunResult:
        """`execute` for callers without an event loop (scripts, WSGI views, notebooks' threads)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.execute(agent, run_id, input_data, metadata=metadata))
        raise UserError("execute_sync() was called inside a running event loop; use `await runner.execute(...)`.")

    async def _attempts(self, agent: AgentRuntime, ctx: RunContext, active: _ActiveRun) -> RunResult:
        attempt = 0
        while True:
            attempt += 1
            ctx.attempt = attempt
            try:
                # Inside the try: an event bus that cannot take RUN_STARTED fails this attempt
                # (retried like any failure) instead of escaping execute().
                await ctx.emit(EventType.RUN_STARTED, {"agent_key": agent.key, "attempt": attempt})
                result = await self._attempt(agent, ctx, active)
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # our caller is being cancelled (e.g. worker shutdown): not a run outcome
                if ctx.is_cancelled():
                    return await self._finish_cancelled(ctx, active, attempt)
                error = ErrorInfo(type="CancelledError", message="The agent's task was cancelled.", retriable=True)
            except RunCancelledError:
                return await self._finish_cancelled(ctx, active, attempt)
            except Exception as e:
                if ctx.is_cancelled():
                    return await self._finish_cancelled(ctx, active, attempt)
                error = ErrorInfo.from_exception(e)
                logger.debug("Run %s attempt %d failed: %s", ctx.run_id, attempt, error.message)
            else:
                return await self._finish_returned(ctx, active, result, attempt)

            error.details.setdefault("attempt", attempt)
            if not error.retriable or attempt > self.config.max_retries:
                return await self._finish_failed(ctx, error, attempts=attempt)
            delay = self.config.backoff(attempt)
            await self._safe_emit(
                ctx,
                EventType.RUN_RETRYING,
                {"attempt": attempt, "error": error.to_dict(), "delay_seconds": round(delay, 6)},
            )
            if await self._sleep_unless_cancelled(ctx, delay):
                return await self._finish_cancelled(ctx, active, attempt)

    async def _attempt(self, agent: AgentRuntime, ctx: RunContext, active: _ActiveRun) -> RunResult:
        if ctx.is_cancelled():
            raise RunCancelledError("Cancelled before the attempt started.", run_id=ctx.run_id)
        task = active.task = asyncio.create_task(_run_in_context(agent, ctx), name=f"agent-run:{ctx.run_id}")
        # The time limit cancels the attempt's own task (cheaper than asyncio.timeout() around it).
        timer, expired = None, False
        if self.config.run_timeout_seconds is not None:

            def expire() -> None:
                nonlocal expired
                expired = True
                task.cancel(msg="run attempt timed out")

            timer = asyncio.get_running_loop().call_later(self.config.run_timeout_seconds, expire)
        try:
            result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if expired and not (current is not None and current.cancelling()):
                raise RunTimeoutError(
                    f"Attempt {ctx.attempt} exceeded {self.config.run_timeout_seconds}s.", run_id=ctx.run_id
                ) from None
            raise
        finally:
            active.task = None
            if timer is not None:
                timer.cancel()
        if not isinstance(result, RunResult):
            raise NonRetriableError(
                f"{type(agent).__name__}.run() must return a RunResult; got {type(result).__name__}."
            )
        return result

    @staticmethod
    async def _sleep_unless_cancelled(ctx: RunContext, delay: float) -> bool:
        try:
            async with asyncio.timeout(delay):
                await ctx.wait_cancelled()
        except TimeoutError:
            return False
        return True

    # -- outcomes ---------------------------------------------------------------------------

    async def _safe_emit(self, ctx: RunContext, event_type: EventType, payload: dict[str, Any]) -> None:
        try:
            await ctx.emit(event_type, payload)
        except Exception:
            logger.exception("Could not publish %s for run %s.", event_type, ctx.run_id)

    async def _finish_returned(
        self, ctx: RunContext, active: _ActiveRun, result: RunResult, attempts: int
    ) -> RunResult:
        result.run_id, result.attempts = ctx.run_id, attempts
        if ctx.is_cancelled():
            result.status = RunStatus.CANCELLED
            result.error = result.error or ErrorInfo(
                type="RunCancelledError", message=active.cancel_reason, retriable=False
            )
            await self._safe_emit(ctx, EventType.RUN_CANCELLED, {"reason": active.cancel_reason})
        elif result.interrupt is not None:
            result.status = RunStatus.INTERRUPTED
            await self._safe_emit(ctx, EventType.RUN_INTERRUPTED, {"interrupt": result.interrupt})
        elif result.error is not None:
            result.status = RunStatus.FAILED
            await self._safe_emit(ctx, EventType.RUN_FAILED, {"error": result.error.to_dict(), "attempts": attempts})
        else:
            result.status = RunStatus.SUCCEEDED
            await self._safe_emit(ctx, EventType.RUN_SUCCEEDED, {"final_output": result.final_output})
        return result

    async def _finish_failed(self, ctx: RunContext, error: ErrorInfo, *, attempts: int) -> RunResult:
        await self._safe_emit(ctx, EventType.RUN_FAILED, {"error": error.to_dict(), "attempts": attempts})
        return RunResult(run_id=ctx.run_id, status=RunStatus.FAILED, error=error, attempts=attempts)

    async def _finish_cancelled(self, ctx: RunContext, active: _ActiveRun, attempts: int) -> RunResult:
        await self._safe_emit(ctx, EventType.RUN_CANCELLED, {"reason": active.cancel_reason})
        error = ErrorInfo(type="RunCancelledError", message=active.cancel_reason, retriable=False)
        return RunResult(run_id=ctx.run_id, status=RunStatus.CANCELLED, error=error, attempts=attempts)

    # -- cancellation -----------------------------------------------------------------------

    async def cancel(self, run_id: str, *, reason: str = "cancelled", grace_seconds: float | None = None) -> bool:
        """Ask a run to stop. `ctx.is_cancelled()` turns true at once; if the agent has not
        stopped after the grace period, its task is cancelled.

        A run executing elsewhere is reached through the queue (on Redis, whichever worker holds
        it cancels it; a run not yet started is recorded CANCELLED by the worker that takes it).
        Returns False when the run is neither executing here nor reachable (no queue in use, or
        the run already finished)."""
        active = self._active.get(str(run_id))
        if active is None:
            from .config import get_config

            if self._queue is None and get_config().queue_backend == "memory":
                return False  # no queue in use: the run can only be local
            from .worker import request_cancel

            return await request_cancel(self, str(run_id), reason)
        if not active.ctx.is_cancelled():
            active.cancel_reason = reason
            active.ctx.request_cancel()
            grace = self.config.cancel_grace_seconds if grace_seconds is None else grace_seconds
            active.force_handle = asyncio.get_running_loop().call_later(grace, self._force_cancel, active)
        return True

    @staticmethod
    def _force_cancel(active: _ActiveRun) -> None:
        if active.task is not None and not active.task.done():
            active.task.cancel(msg="run cancelled by AgentRunner.cancel()")
