"""`RunEngine`: executes runs — attempts under a time limit, retries with backoff, cancellation —
and publishes their events. `AgentRunner` is its public face; workers drive the same engine.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .._redaction import get_logger
from ..agent import AgentRuntime, RunResult
from ..context import RunContext, _current_context
from ..errors import (
    ErrorInfo,
    InvalidInputError,
    NonRetriableError,
    RunCancelledError,
    RunTimeoutError,
    UserError,
)
from ..events.base import Event, EventBus
from ..state.base import StateStore
from ..tools import ToolRegistry
from ..tracing.base import TraceSink
from . import lifecycle
from .config import RunnerConfig
from .inputs import parse_input

__all__ = ["RetryLater", "RunEngine"]

logger = get_logger("agent_runtime_core.runner")


class RetryLater(Exception):
    """Raised by `RunEngine.execute(..., attempt=N)` when attempt N failed and another should
    follow after `delay` seconds (RUN_RETRYING is published): the caller (a Temporal activity)
    schedules it, instead of the engine sleeping."""

    def __init__(self, error: ErrorInfo, delay: float) -> None:
        super().__init__(error.message)
        self.error = error
        self.delay = delay


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


class RunEngine:
    """Executes runs on its backends; many at once, their events and state never mixed."""

    def __init__(
        self, config: RunnerConfig, event_bus: EventBus, state_store: StateStore, trace_sink: TraceSink | None
    ) -> None:
        self.config = config
        self.event_bus = event_bus
        self.state_store = state_store
        self.trace_sink = trace_sink
        self._active: dict[str, _ActiveRun] = {}
        self._sink_failures = 0

    @property
    def active_runs(self) -> int:
        return len(self._active)

    def is_running(self, run_id: str) -> bool:
        return run_id in self._active

    async def publish(self, event: Event) -> None:
        """Store an event on the bus, then hand it to the trace sink (whose failures never stop
        a run)."""
        await self.event_bus.publish(event)
        if self.trace_sink is not None:
            try:
                await self.trace_sink.trace(event.to_dict())
            except Exception:
                self._sink_failures += 1
                if self._sink_failures <= 3 or self._sink_failures % 1000 == 0:
                    logger.exception("Trace sink %r failed (%d failures so far); the run goes on.",
                                     self.trace_sink, self._sink_failures)

    # -- one run ----------------------------------------------------------------------------

    async def execute(
        self,
        agent: AgentRuntime,
        run_id: str | uuid.UUID | None,
        input_data: Any,
        *,
        metadata: dict[str, Any] | None,
        resume_value: Any,
        resuming: bool,
        attempt: int | None = None,
    ) -> RunResult:
        """Execute a run: its attempts, retried with backoff, to a result. With `attempt`, only
        attempt number `attempt` is made here: a failure that deserves another attempt publishes
        RUN_RETRYING and raises `RetryLater` (the caller's scheduler retries, e.g. Temporal)."""
        run_id = str(run_id) if run_id is not None else str(uuid.uuid4())
        if run_id in self._active:
            raise UserError(f"Run {run_id!r} is already executing on this runner.")
        ctx = RunContext(
            run_id=run_id,
            agent_key=agent.key,
            publish=self.publish,
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
                try:
                    await lifecycle.started(ctx, agent.key, attempt=attempt or 1)
                except Exception:
                    logger.exception("Could not publish the start of run %s.", run_id)
                return await lifecycle.failed(ctx, ErrorInfo.from_exception(e), attempts=attempt or 1)
            ctx.input_messages = messages
            ctx.metadata = {**input_metadata, **(metadata or {})}
            ctx.input_data = raw_input
            ctx.resume_value, ctx.is_resuming = resume_value, resuming
            return await self._attempts(agent, ctx, active, attempt)
        finally:
            if active.force_handle is not None:
                active.force_handle.cancel()
            if self._active.get(run_id) is active:
                del self._active[run_id]

    async def _attempts(
        self, agent: AgentRuntime, ctx: RunContext, active: _ActiveRun, only: int | None = None
    ) -> RunResult:
        attempt = 0 if only is None else only - 1
        while True:
            attempt += 1
            ctx.attempt = attempt
            try:
                # Inside the try: an event bus that cannot take RUN_STARTED fails this attempt
                # (retried like any failure) instead of escaping execute().
                await lifecycle.started(ctx, agent.key, attempt)
                result = await self._attempt(agent, ctx, active)
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # our caller is being cancelled (e.g. worker shutdown): not a run outcome
                if ctx.is_cancelled():
                    return await lifecycle.cancelled(ctx, active.cancel_reason, attempt)
                error = ErrorInfo(type="CancelledError", message="The agent's task was cancelled.", retriable=True)
            except RunCancelledError:
                return await lifecycle.cancelled(ctx, active.cancel_reason, attempt)
            except Exception as e:
                if ctx.is_cancelled():
                    return await lifecycle.cancelled(ctx, active.cancel_reason, attempt)
                error = ErrorInfo.from_exception(e)
                logger.debug("Run %s attempt %d failed: %s", ctx.run_id, attempt, error.message)
            else:
                return await lifecycle.returned(ctx, result, attempt, active.cancel_reason)

            error.details.setdefault("attempt", attempt)
            if not error.retriable or attempt > self.config.max_retries:
                return await lifecycle.failed(ctx, error, attempts=attempt)
            delay = self.config.backoff(attempt)
            await lifecycle.retrying(ctx, attempt, error, delay)
            if only is not None:
                raise RetryLater(error, delay)
            if await self._sleep_unless_cancelled(ctx, delay):
                return await lifecycle.cancelled(ctx, active.cancel_reason, attempt)

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

    # -- cancellation -----------------------------------------------------------------------

    def cancel(self, run_id: str, reason: str, grace_seconds: float | None) -> bool:
        """Cancel a run executing here (False when it is not): `ctx.is_cancelled()` turns true at
        once; after the grace period its task is cancelled."""
        active = self._active.get(run_id)
        if active is None:
            return False
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
