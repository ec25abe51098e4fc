"""The only writer of a run's lifecycle events: RUN_STARTED, RUN_RETRYING and the terminal one
(RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED, RUN_INTERRUPTED).

Both paths a run can take write through here: an execution (`AgentRunner.execute`, locally or on
a worker) and a run a worker settles without executing it (refused, or cancelled before it
started). So a run's events have one grammar, however it ran.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._redaction import get_logger, redact_result
from ..agent import RunResult, RunStatus
from ..context import RunContext
from ..errors import AgentRuntimeError, ErrorInfo
from ..events.base import Event, EventBus, EventType

__all__ = ["cancelled", "failed", "not_executed", "retrying", "returned", "started"]

logger = get_logger("agent_runtime_core.runner")


_Swallowed = tuple[type[BaseException], ...]
_ANY: _Swallowed = (Exception,)


async def _emit_safely(
    ctx: RunContext, event_type: EventType, payload: dict[str, Any], swallow: _Swallowed = _ANY
) -> None:
    """A terminal or retry event: a bus that cannot take it is logged, not raised, so the run's
    outcome still reaches its caller (and the worker records it). Errors outside `swallow`
    propagate (a worker lets a backend outage redeliver a run it has not settled)."""
    try:
        await ctx.emit(event_type, payload)
    except swallow:
        logger.exception("Could not publish %s for run %s.", event_type, ascii(ctx.run_id)[:80])


async def started(ctx: RunContext, agent_key: str, attempt: int) -> None:
    """An attempt begins. Raises if the event bus cannot take it: the attempt then fails (and is
    retried like any failure) rather than run unseen."""
    await ctx.emit(EventType.RUN_STARTED, {"agent_key": agent_key, "attempt": attempt})


async def retrying(ctx: RunContext, attempt: int, error: ErrorInfo, delay: float) -> None:
    """Attempt `attempt` failed and another follows after `delay` seconds."""
    payload = {"attempt": attempt, "error": error.to_dict(), "delay_seconds": round(delay, 6)}
    await _emit_safely(ctx, EventType.RUN_RETRYING, payload)


async def returned(ctx: RunContext, result: RunResult, attempts: int, cancel_reason: str) -> RunResult:
    """The agent returned `result`: its status follows from what it holds (and whether the run
    was cancelled meanwhile), and the matching terminal event is written. What it carries is
    redacted first: it is about to be recorded and returned."""
    redact_result(result)
    result.run_id, result.attempts = ctx.run_id, attempts
    if ctx.is_cancelled():
        result.status = RunStatus.CANCELLED
        result.error = result.error or ErrorInfo(type="RunCancelledError", message=cancel_reason, retriable=False)
        await _emit_safely(ctx, EventType.RUN_CANCELLED, {"reason": cancel_reason})
    elif result.interrupt is not None:
        result.status = RunStatus.INTERRUPTED
        await _emit_safely(ctx, EventType.RUN_INTERRUPTED, {"interrupt": result.interrupt})
    elif result.error is not None:
        result.status = RunStatus.FAILED
        await _emit_safely(ctx, EventType.RUN_FAILED, {"error": result.error.to_dict(), "attempts": attempts})
    else:
        result.status = RunStatus.SUCCEEDED
        await _emit_safely(ctx, EventType.RUN_SUCCEEDED, {"final_output": result.final_output})
    return result


async def failed(ctx: RunContext, error: ErrorInfo, attempts: int, swallow: _Swallowed = _ANY) -> RunResult:
    """The run failed for good (`attempts` made; 0 when it never executed)."""
    await _emit_safely(ctx, EventType.RUN_FAILED, {"error": error.to_dict(), "attempts": attempts}, swallow)
    return RunResult(run_id=ctx.run_id, status=RunStatus.FAILED, error=error, attempts=attempts)


async def cancelled(ctx: RunContext, reason: str, attempts: int, swallow: _Swallowed = _ANY) -> RunResult:
    """The run was cancelled (`attempts` made; 0 when it never executed)."""
    await _emit_safely(ctx, EventType.RUN_CANCELLED, {"reason": reason}, swallow)
    error = ErrorInfo(type="RunCancelledError", message=reason, retriable=False)
    return RunResult(run_id=ctx.run_id, status=RunStatus.CANCELLED, error=error, attempts=attempts)


async def not_executed(
    publish: Callable[[Event], Awaitable[None]],
    event_bus: EventBus,
    run_id: str,
    agent_key: str,
    status: RunStatus,
    error: ErrorInfo,
) -> RunResult:
    """A run settled without executing (a worker refused it, or it was cancelled before it
    started): its terminal event continues the run's stream, preceded by RUN_STARTED when the
    run has no events yet (so a failed run's stream always starts with one). Returns the result
    to record."""
    # What the run's own content can cause (a refused payload, a bad id) is logged; an outage of
    # the bus propagates, so the worker leaves the run to be delivered again.
    swallow: _Swallowed = (AgentRuntimeError, ValueError)
    last = await event_bus.last_seq(run_id)
    ctx = RunContext(run_id=run_id, agent_key=agent_key, publish=publish, start_seq=last)
    if status is RunStatus.CANCELLED:
        return await cancelled(ctx, error.message, 0, swallow)
    if last == 0:
        try:
            await started(ctx, agent_key, attempt=1)
        except swallow:
            logger.exception("Could not publish the outcome of run %s.", ascii(run_id)[:80])
            return RunResult(run_id=run_id, status=RunStatus.FAILED, error=error, attempts=0)
    return await failed(ctx, error, 0, swallow)
