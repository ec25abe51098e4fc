"""The activities of the run workflow: `execute` makes one attempt of a run with the runner's own
engine (so its events, checkpoints and traces are the same as on any engine); `settle` writes the
terminal event of a run that no attempt finished (cancelled before or between attempts, or given
up by Temporal).

Granularity: one activity per attempt, not per step. A step boundary is not something every
framework exposes (a LangGraph node, a CrewAI task, an OpenAI Agents turn differ), but every
adapter checkpoints into our StateStore after each step; a retried activity resumes from that
checkpoint, so a crash redoes at most the unfinished step, and the workflow history stays small
(a few events per attempt instead of several per model call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .._engine import lifecycle
from .._engine.execution import RetryLater
from .._engine.results import result_key, result_to_dict
from .._redaction import get_logger
from ..agent import RunResult, RunStatus
from ..errors import ErrorInfo, InvalidInputError
from ..events.base import EventType
from ..registry import RuntimeNotFoundError, get_runtime
from ._workflow import EXECUTE, SETTLE

if TYPE_CHECKING:
    from ..runner import AgentRunner

__all__ = ["CANCEL_KEY_PREFIX", "OUTCOME_KEY_PREFIX", "RunActivities"]

logger = get_logger("agent_runtime_core.temporal")

OUTCOME_KEY_PREFIX = "temporal-outcome:"
"""Each execute activity's outcome, recorded in the state store before it is returned."""
_OUTCOME_TTL = 7 * 24 * 3600.0
_FINAL = {
    EventType.RUN_SUCCEEDED: RunStatus.SUCCEEDED,
    EventType.RUN_FAILED: RunStatus.FAILED,
    EventType.RUN_CANCELLED: RunStatus.CANCELLED,
}

CANCEL_KEY_PREFIX = "run-cancel:"
"""`runner.cancel(run_id, reason)` leaves the reason in the state store under `run-cancel:<id>`:
Temporal tells an activity that it is cancelled, not why."""


class RunActivities:
    """The activities, bound to the worker's runner (its engine, event bus, state store)."""

    def __init__(self, runner: AgentRunner, *, heartbeat_seconds: float, max_result_bytes: int) -> None:
        self.runner = runner
        self.heartbeat_seconds = heartbeat_seconds
        self.max_result_bytes = max_result_bytes

    @activity.defn(name=EXECUTE)
    async def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """One attempt of the run (numbered as Temporal's attempt of this activity). Returns the
        run's result; raises a retryable `ApplicationError` (with the engine's backoff as the
        delay) when the attempt failed and another should follow."""
        run_id, agent_key = str(request["run_id"]), str(request["agent_key"])
        runner = self.runner
        try:
            agent = get_runtime(agent_key)
        except RuntimeNotFoundError as e:
            error = ErrorInfo.from_exception(InvalidInputError(str(e), run_id=run_id))
            return await self._settled(run_id, agent_key, RunStatus.FAILED, error)
        info = activity.info()
        attempt, outcome_key = info.attempt, f"{OUTCOME_KEY_PREFIX}{info.workflow_run_id}:{info.activity_id}"
        if attempt > 1:  # an earlier attempt may have finished the run, its completion lost
            done = await self._finished_before(run_id, outcome_key, bool(request.get("resuming")))
            if done is not None:
                return done
        task = asyncio.create_task(
            runner._engine.execute(
                agent,
                run_id,
                request.get("input_data"),
                metadata=request.get("metadata") or {},
                resume_value=request.get("resume_value"),
                resuming=bool(request.get("resuming")),
                attempt=attempt,
            ),
            name=f"temporal-run:{run_id}",
        )
        beat = asyncio.create_task(self._heartbeat(), name=f"heartbeat:{run_id}")
        try:
            result = await self._finish(task, run_id)
        except RetryLater as retry:
            raise ApplicationError(
                retry.error.message,
                retry.error.to_dict(),
                type=retry.error.type,
                next_retry_delay=timedelta(seconds=max(retry.delay, 0.001)),
            ) from None
        finally:
            beat.cancel()
        data = await self._result(result)
        # Recorded before Temporal hears of it: an attempt retried after a lost completion (this
        # worker died, the server restarted) returns it instead of running the agent again.
        await self.runner.state_store.set(outcome_key, data, ttl_seconds=_OUTCOME_TTL)
        return data

    async def _finished_before(self, run_id: str, outcome_key: str, resuming: bool) -> dict[str, Any] | None:
        """The outcome of this activity if an earlier attempt got that far: recorded, or (its
        worker died between the terminal event and the record) read from the terminal event."""
        recorded = await self.runner.state_store.get(outcome_key)
        if isinstance(recorded, dict):
            return recorded
        if resuming:  # a resumed run's own terminal event cannot be told from the interrupt's
            return None
        bus = self.runner.event_bus
        events = await bus.get_events(run_id)
        last = events[-1] if events else None
        if last is None or last.type not in _FINAL:
            return None
        status, payload = _FINAL[last.type], last.payload
        result = RunResult(run_id=run_id, status=status, attempts=sum(e.type is EventType.RUN_STARTED for e in events))
        if status is RunStatus.SUCCEEDED:
            result.final_output = dict(payload.get("final_output") or {})
        elif isinstance(payload.get("error"), dict):
            result.error = ErrorInfo.from_dict(payload["error"])
        else:
            result.error = ErrorInfo(type="RunCancelledError", message=str(payload.get("reason") or "cancelled"),
                                     retriable=False)
        logger.info("Run %s had finished in an earlier attempt; not running it again.", ascii(run_id)[:80])
        return await self._result(result)

    async def _finish(self, task: asyncio.Task[RunResult], run_id: str) -> RunResult:
        """The attempt's result. A cancellation of the run's workflow reaches the agent as
        `ctx.is_cancelled()` (then its task is cancelled, after the grace period), and the attempt
        ends with RUN_CANCELLED. Any other end of this activity (the worker shutting down, or
        Temporal no longer counting on this attempt: it timed out, e.g. while the server was
        unreachable, and another attempt took over) abandons the attempt without an outcome of
        its own: the run goes on in the next attempt, from its checkpoint."""
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if task.done() and not task.cancelled():
                    return task.result()
                details = activity.cancellation_details()
                requested = details is not None and details.cancel_requested and not (
                    details.not_found or details.timed_out or details.worker_shutdown or details.reset
                )
                if not requested or activity.is_worker_shutdown() or task.cancelled():
                    task.cancel(msg="attempt abandoned")
                    with contextlib.suppress(BaseException):
                        await task
                    raise
                if current is not None:
                    current.uncancel()
                reason = await self._cancel_reason(run_id)
                self.runner._engine.cancel(run_id, reason, None)

    async def _cancel_reason(self, run_id: str) -> str:
        try:
            stored = await self.runner.state_store.get(CANCEL_KEY_PREFIX + run_id)
        except Exception:
            logger.warning("Could not read the cancel reason of run %s.", ascii(run_id)[:80])
            return "cancelled"
        reason = stored.get("reason") if isinstance(stored, dict) else None
        return str(reason) if reason else "cancelled"

    async def _heartbeat(self) -> None:
        # Heartbeats tell Temporal the worker is alive (else the attempt is retried elsewhere after
        # the heartbeat timeout) and bring back cancellation requests.
        while True:
            activity.heartbeat()
            await asyncio.sleep(self.heartbeat_seconds)

    async def _result(self, result: RunResult) -> dict[str, Any]:
        """The result for the workflow's history; one over `max_result_bytes` of JSON is kept in
        the state store instead, and the history gets a reference to it."""
        # As JSON, values that are not JSON as their str() (as the state stores record them).
        text = json.dumps(result_to_dict(result), separators=(",", ":"), ensure_ascii=False, default=str)
        data: dict[str, Any] = json.loads(text)
        size = len(text.encode())
        if size <= self.max_result_bytes:
            return data
        await self.runner.state_store.set(result_key(str(result.run_id)), data)
        return {"run_id": result.run_id, "status": data["status"], "attempts": result.attempts,
                "stored_bytes": size}

    async def _settled(self, run_id: str, agent_key: str, status: RunStatus, error: ErrorInfo) -> dict[str, Any]:
        engine = self.runner._engine
        result = await lifecycle.not_executed(engine.publish, self.runner.event_bus, run_id, agent_key, status, error)
        return result_to_dict(result)

    @activity.defn(name=SETTLE)
    async def settle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Write the terminal event of a run no attempt finished: RUN_CANCELLED (the workflow was
        cancelled before or between attempts, or while waiting for a human) or RUN_FAILED
        (Temporal gave up on it). Nothing is written twice when this activity is retried."""
        run_id, agent_key = str(request["run_id"]), str(request["agent_key"])
        status = RunStatus(str(request["status"]))
        raw = request.get("error") or {}
        if status is RunStatus.CANCELLED:
            error = ErrorInfo(type="RunCancelledError", message=await self._cancel_reason(run_id), retriable=False)
            written = EventType.RUN_CANCELLED
        else:
            error = ErrorInfo(type=str(raw.get("type") or "TemporalError"),
                              message=str(raw.get("message") or "Temporal gave up on the run."), retriable=False)
            written = EventType.RUN_FAILED
        bus = self.runner.event_bus
        last_seq = await bus.last_seq(run_id)
        last = await bus.get_events(run_id, max(0, last_seq - 1)) if last_seq else []
        if last and last[-1].type is written:  # this settle ran before and its event stands
            return result_to_dict(RunResult(run_id=run_id, status=status, error=error, attempts=0))
        return await self._settled(run_id, agent_key, status, error)
