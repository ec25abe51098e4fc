"""The run workflow: one Temporal workflow per run, its id the run id.

The framework's work is not deterministic, so it runs in an activity (`_activities.execute`), one
activity per attempt: the agent checkpoints into our StateStore as it goes, and a retried activity
resumes from the last checkpoint, so a crash redoes at most the unfinished step. The workflow only
sequences: execute, wait for a human's answer when the run is interrupted (the `resume` update),
execute again; on cancellation or when Temporal gives up, a `settle` activity writes the run's
terminal event.

Deterministic and import-light on purpose: Temporal's sandbox may import this module again for
each workflow; it must do nothing at import time and call nothing but `temporalio.workflow`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    is_cancelled_exception,
)

__all__ = [
    "AGENT_KEY",
    "EXECUTE",
    "RESUME",
    "RUN_STATUS",
    "SETTLE",
    "WORKFLOW",
    "AgentRunWorkflow",
]

WORKFLOW = "AgentRun"
EXECUTE = "agent_runtime.execute"
SETTLE = "agent_runtime.settle"
RESUME = "resume"

AGENT_KEY = SearchAttributeKey.for_keyword("AgentKey")
"""Search attribute: the run's agent key (`temporal workflow list --query 'AgentKey="x"'`)."""
RUN_STATUS = SearchAttributeKey.for_keyword("AgentRunStatus")
"""Search attribute: running, interrupted, succeeded, failed or cancelled."""

_SETTLE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.2), maximum_interval=timedelta(seconds=10))


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=float(value))


@workflow.defn(name=WORKFLOW)
class AgentRunWorkflow:
    """Executes one run. Input: {"run_id", "agent_key", "input_data", "metadata", "policy",
    "search_attributes"}; result: the run's `RunResult` as a dict (`result_to_dict`). A cancelled
    run closes as Canceled (its RUN_CANCELLED is on the event bus)."""

    def __init__(self) -> None:
        self._answers: list[Any] = []
        self._waiting = False
        self._search_attributes = False

    @workflow.run
    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        self._search_attributes = bool(spec.get("search_attributes"))
        request: dict[str, Any] = {
            "run_id": spec["run_id"],
            "agent_key": spec["agent_key"],
            "input_data": spec.get("input_data"),
            "metadata": spec.get("metadata") or {},
            "resume_value": None,
            "resuming": False,
        }
        policy: dict[str, Any] = spec["policy"]
        try:
            while True:
                outcome = await self._execute(request, policy)
                if outcome.get("status") != "interrupted":
                    break
                self._status("interrupted", outcome)
                self._waiting = True
                await workflow.wait_condition(lambda: bool(self._answers))
                request = {**request, "resume_value": self._answers.pop(0), "resuming": True}
        except (asyncio.CancelledError, CancelledError):
            if workflow.cancellation_reason() is None:
                raise
            await self._settle(request, "cancelled", {"message": workflow.cancellation_reason() or "cancelled"})
            self._status("cancelled")
            raise
        except ActivityError as e:
            if is_cancelled_exception(e) and workflow.cancellation_reason() is not None:
                await self._settle(request, "cancelled", {"message": workflow.cancellation_reason() or "cancelled"})
                self._status("cancelled")
                raise CancelledError("cancelled") from None
            # Temporal gave up on the attempt (every worker that took it died, its time ran out):
            # the run fails, with the reason, in our events as in Temporal's history.
            cause = e.cause if e.cause is not None else e
            error = {
                "type": getattr(cause, "type", None) or type(cause).__name__,
                "message": str(cause) or str(e),
                "retriable": False,
            }
            outcome = await self._settle(request, "failed", error)
        status = str(outcome.get("status"))
        self._status(status)
        if status == "cancelled" and workflow.cancellation_reason() is not None:
            raise CancelledError("cancelled")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _execute(self, request: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
        retry = policy["retry"]
        result: dict[str, Any] = await workflow.execute_activity(
            EXECUTE,
            request,
            start_to_close_timeout=_seconds(policy["start_to_close_seconds"]),
            heartbeat_timeout=_seconds(policy["heartbeat_seconds"]),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=retry["initial_seconds"]),
                backoff_coefficient=retry["coefficient"],
                maximum_interval=timedelta(seconds=retry["maximum_seconds"]),
                maximum_attempts=retry["maximum_attempts"],
                non_retryable_error_types=retry["non_retryable"],
            ),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"attempt of run {request['run_id']}",
        )
        return result

    async def _settle(self, request: dict[str, Any], status: str, error: dict[str, Any]) -> dict[str, Any]:
        # Shielded: it must run even though the workflow is being cancelled.
        result: dict[str, Any] = await asyncio.shield(
            workflow.execute_activity(
                SETTLE,
                {"run_id": request["run_id"], "agent_key": request["agent_key"], "status": status, "error": error},
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_SETTLE_RETRY,
            )
        )
        return result

    def _status(self, status: str, outcome: dict[str, Any] | None = None) -> None:
        """Shown in describe() (memo; the interrupted outcome for `wait`) and, when registered, in
        the `AgentRunStatus` search attribute."""
        workflow.upsert_memo({"status": status, "outcome": outcome})
        if self._search_attributes:
            workflow.upsert_search_attributes([RUN_STATUS.value_set(status)])

    @workflow.update(name=RESUME)
    async def resume(self, answer: Any) -> None:
        """A human's answer to the interrupted run: it continues on a worker."""
        self._waiting = False
        self._status("running")
        self._answers.append(answer)

    @resume.validator
    def _check_resume(self, answer: Any) -> None:
        if not self._waiting or self._answers:
            raise ApplicationError("The run is not waiting for a human.", type="NotInterrupted", non_retryable=True)
