"""`TemporalEngine`: submitted runs execute as Temporal workflows (one per run, its id the run id).

The client side lives here: start a run's workflow, wait for its result, cancel it, send a human's
answer; `serve` makes this process a Temporal worker (`_worker.py`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import CancelledError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .._engine.results import get_result, result_from_dict
from .._redaction import get_logger
from ..agent import RunResult, RunStatus
from ..config import get_config
from ..distributed.client import DEFAULT_MAX_INPUT_BYTES, check_submission
from ..errors import ErrorInfo, NonRetriableError, UserError
from ._activities import CANCEL_KEY_PREFIX
from ._payloads import data_converter
from ._workflow import AGENT_KEY, RESUME, RUN_STATUS, WORKFLOW

if TYPE_CHECKING:
    from ..runner import AgentRunner

__all__ = ["TemporalEngine"]

logger = get_logger("agent_runtime_core.temporal")

_CANCEL_REASON_TTL = 7 * 24 * 3600.0
# Error types Temporal never retries (matched by name). The engine itself ends a run whose error is
# not retriable with RUN_FAILED (the activity completes); this guards errors raised past it.
_NON_RETRYABLE = [NonRetriableError.__name__, "InvalidInputError"]


class TemporalEngine:
    """Runs as Temporal workflows: `AgentRunner(engine=TemporalEngine(...))`.

    - `address`, `namespace`, `task_queue`: where the Temporal frontend is and which task queue
      the workers poll (`configure(temporal_address=...)` / `TEMPORAL_ADDRESS` for `from_settings`).
    - `heartbeat_timeout_seconds`: an attempt whose worker stopped heartbeating this long (it
      died) is retried on another worker, from the run's last checkpoint. Like the retries and
      the time limit, it is part of the run's policy, set by the runner that submits the run.
    - `heartbeat_seconds`: how often a running attempt heartbeats (and so how soon a cancel
      reaches it).
    - `max_redeliveries`: attempts Temporal may make beyond the runner's `max_retries`, for
      attempts lost with their worker.
    - `search_attributes`: put `AgentKey` and `AgentRunStatus` on each run (registered on the
      namespace at first use when missing, if the server lets us; else left off with a warning).
    - `max_result_bytes`: larger results are kept in the state store, not the workflow history.
    - `client`: an already connected `temporalio.client.Client` (its data converter is replaced
      by ours, which redacts secrets).
    """

    name = "temporal"

    def __init__(
        self,
        address: str = "127.0.0.1:7233",
        *,
        namespace: str = "default",
        task_queue: str = "agent-runtime",
        heartbeat_timeout_seconds: float = 30.0,
        heartbeat_seconds: float = 1.0,
        max_redeliveries: int = 5,
        search_attributes: bool = True,
        max_result_bytes: int = 256_000,
        shutdown_grace_seconds: float = 30.0,
        client: Client | None = None,
    ) -> None:
        if not task_queue:
            raise UserError("`task_queue` must be a non-empty string.")
        if heartbeat_seconds <= 0 or heartbeat_timeout_seconds <= heartbeat_seconds:
            raise UserError(
                "`heartbeat_seconds` must be > 0 and below `heartbeat_timeout_seconds`; got "
                f"{heartbeat_seconds} and {heartbeat_timeout_seconds}."
            )
        if not isinstance(max_redeliveries, int) or max_redeliveries < 0:
            raise UserError(f"`max_redeliveries` must be an integer >= 0; got {max_redeliveries!r}.")
        self.address, self.namespace, self.task_queue = address, namespace, task_queue
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.max_redeliveries = max_redeliveries
        self.search_attributes = search_attributes
        self.max_result_bytes = max_result_bytes
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._client = client
        self._connecting: asyncio.Lock | None = None
        self._attributes_checked = False

    @classmethod
    def from_settings(cls, **options: Any) -> TemporalEngine:
        """The engine `configure(temporal_address=..., temporal_namespace=...,
        temporal_task_queue=...)` / `TEMPORAL_ADDRESS` etc. describe."""
        config = get_config()
        return cls(config.temporal_address, namespace=config.temporal_namespace,
                   task_queue=config.temporal_task_queue, **options)

    def __repr__(self) -> str:
        return f"TemporalEngine(address={self.address!r}, namespace={self.namespace!r}, task_queue={self.task_queue!r})"

    async def client(self) -> Client:
        """The Temporal client (connected on first use), with our redacting data converter."""
        if self._client is not None:
            if self._client.data_converter.payload_codec is None:
                config = self._client.config()
                config["data_converter"] = data_converter()
                self._client = Client(**config)
            return self._client
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await Client.connect(
                        self.address, namespace=self.namespace, data_converter=data_converter()
                    )
                except RuntimeError as e:
                    raise UserError(
                        f"Cannot reach Temporal at {self.address!r} ({e}). Start it (`temporal server "
                        "start-dev`) or set TEMPORAL_ADDRESS / configure(temporal_address=...)."
                    ) from None
        return self._client

    async def _ensure_search_attributes(self, client: Client) -> None:
        if self._attributes_checked or not self.search_attributes:
            return
        self._attributes_checked = True
        wanted = {AGENT_KEY.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                  RUN_STATUS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
        try:
            known = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=self.namespace)
            )
            missing = {k: v for k, v in wanted.items() if k not in known.custom_attributes}
            if missing:
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(namespace=self.namespace, search_attributes=missing)
                )
        except RPCError as e:
            self.search_attributes = False
            logger.warning(
                "Runs get no AgentKey / AgentRunStatus search attributes: they are not registered on "
                "namespace %r and could not be (%s). Register them: `temporal operator search-attribute "
                "create --name AgentKey --type Keyword` (and AgentRunStatus).", self.namespace, e.message,
            )

    def _policy(self, runner: AgentRunner) -> dict[str, Any]:
        """The runner's policy in Temporal's terms: its retries and backoff as the activity's retry
        policy (plus `max_redeliveries` for attempts lost with their worker), its time limit (and
        cancel grace) as the start-to-close timeout."""
        config = runner.config
        timeout = config.run_timeout_seconds
        return {
            "start_to_close_seconds": (timeout + config.cancel_grace_seconds + 30.0) if timeout else 365 * 24 * 3600.0,
            "heartbeat_seconds": self.heartbeat_timeout_seconds,
            "retry": {
                "initial_seconds": max(config.retry_backoff_seconds, 0.001),
                "coefficient": config.retry_backoff_multiplier,
                "maximum_seconds": max(config.retry_backoff_max_seconds, config.retry_backoff_seconds, 0.001),
                "maximum_attempts": config.max_retries + 1 + self.max_redeliveries,
                "non_retryable": _NON_RETRYABLE,
            },
        }

    # -- the runner's calls -----------------------------------------------------------------

    async def submit(
        self,
        runner: AgentRunner,
        agent_key: str,
        input_data: Any,
        run_id: str | None,
        **options: Any,
    ) -> str:
        """Start the run's workflow. A run id Temporal already knows (running or closed) starts
        nothing: Temporal rejects the duplicate and the same id is returned. `options`:
        `metadata`, `delay_seconds`, `max_input_bytes` as on the queue."""
        metadata: dict[str, Any] | None = options.pop("metadata", None)
        priority = options.pop("priority", 0)
        delay_seconds = float(options.pop("delay_seconds", 0.0))
        max_input_bytes = int(options.pop("max_input_bytes", DEFAULT_MAX_INPUT_BYTES))
        if options:
            raise UserError(f"Unknown submit options for the Temporal engine: {', '.join(sorted(options))}.")
        if priority:
            raise UserError("The Temporal engine has no run priority; use a task queue per priority instead.")
        run_id, raw_input = check_submission(agent_key, input_data, run_id, metadata, max_input_bytes)
        client = await self.client()
        await self._ensure_search_attributes(client)
        spec = {
            "run_id": run_id,
            "agent_key": agent_key,
            "input_data": raw_input,
            "metadata": dict(metadata or {}),
            "policy": self._policy(runner),
            "search_attributes": self.search_attributes,
        }
        attributes = (
            TypedSearchAttributes([SearchAttributePair(AGENT_KEY, agent_key), SearchAttributePair(RUN_STATUS, "running")])
            if self.search_attributes else None
        )
        try:
            await client.start_workflow(
                WORKFLOW,
                spec,
                id=run_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=attributes,
                memo={"agent_key": agent_key, "status": "running"},
                start_delay=timedelta(seconds=delay_seconds) if delay_seconds > 0 else None,
                static_summary=f"{agent_key} run",
            )
        except WorkflowAlreadyStartedError:
            pass  # Temporal refused the duplicate: the run exists already
        return run_id

    async def wait(self, runner: AgentRunner, run_id: str, timeout: float | None) -> RunResult:
        """The workflow's result; for a run waiting for a human, its INTERRUPTED result (from the
        workflow's memo)."""
        handle = (await self.client()).get_workflow_handle(run_id)
        try:
            async with asyncio.timeout(timeout):
                return await self._wait(runner, handle)
        except TimeoutError:
            raise TimeoutError(
                f"Run {run_id!r} did not finish within {timeout}s. Are workers running (`agent-runtime "
                "worker --app ... --engine temporal`)? See it in Temporal: `temporal workflow describe "
                f"-w {run_id}`."
            ) from None

    async def _wait(self, runner: AgentRunner, handle: WorkflowHandle[Any, Any]) -> RunResult:
        finished = asyncio.create_task(handle.result())
        try:
            delay = 0.05
            while True:
                done, _ = await asyncio.wait({finished}, timeout=delay)
                if done:
                    return await self._finished(runner, handle.id, finished)
                memo = await (await handle.describe()).memo()
                outcome = memo.get("outcome")
                # Waiting for a human, unless a cancel is on its way (it then ends CANCELLED).
                if (
                    memo.get("status") == "interrupted"
                    and isinstance(outcome, dict)
                    and await runner.state_store.get(CANCEL_KEY_PREFIX + handle.id) is None
                ):
                    return result_from_dict(outcome)
                delay = min(delay * 2, 1.0)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"Temporal knows no run {handle.id!r} (namespace {self.namespace!r}).") from None
            raise
        finally:
            finished.cancel()

    async def _finished(self, runner: AgentRunner, run_id: str, finished: asyncio.Task[Any]) -> RunResult:
        try:
            data = finished.result()
        except WorkflowFailureError as e:
            if isinstance(e.cause, CancelledError):
                reason = await self._cancel_reason(runner, run_id)
                error = ErrorInfo(type="RunCancelledError", message=reason, retriable=False)
                return RunResult(run_id=run_id, status=RunStatus.CANCELLED, error=error)
            cause = e.cause or e
            error = ErrorInfo(type=type(cause).__name__, message=str(cause), retriable=False)
            return RunResult(run_id=run_id, status=RunStatus.FAILED, error=error)
        if isinstance(data, dict) and "stored_bytes" in data:  # too large for the history
            stored = await get_result(runner.state_store, run_id)
            if stored is not None:
                return stored
        return result_from_dict(data)

    async def _cancel_reason(self, runner: AgentRunner, run_id: str) -> str:
        stored = await runner.state_store.get(CANCEL_KEY_PREFIX + run_id)
        return str(stored.get("reason") or "cancelled") if isinstance(stored, dict) else "cancelled"

    async def cancel(self, runner: AgentRunner, run_id: str, reason: str) -> bool:
        """Cancel the run's workflow: a running attempt sees `ctx.is_cancelled()` at its next
        heartbeat; a run not started or waiting for a human ends RUN_CANCELLED. False when
        Temporal knows no such run or it already ended."""
        handle = (await self.client()).get_workflow_handle(run_id)
        try:
            if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
                return False
            await runner.state_store.set(CANCEL_KEY_PREFIX + run_id, {"reason": reason}, ttl_seconds=_CANCEL_REASON_TTL)
            await handle.cancel(reason=reason)
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False
            raise
        return True

    async def resume(self, runner: AgentRunner, run_id: str, response: Any, **options: Any) -> RunResult:
        """Send the human's answer to the run's workflow (the `resume` update, from any process);
        the run continues on a worker. Returns its next outcome."""
        if options.get("agent") is not None or options.get("input_data") is not None:
            raise UserError("On Temporal a run resumes with the agent and input it was submitted with.")
        handle = (await self.client()).get_workflow_handle(run_id)
        try:
            await handle.execute_update(RESUME, response)
        except WorkflowUpdateFailedError:
            raise UserError(f"Run {run_id!r} is not waiting for a human.") from None
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise UserError(f"Run {run_id!r} is not waiting for a human (Temporal: {e.message}).") from None
            raise
        return await self.wait(runner, run_id, None)

    async def serve(self, runner: AgentRunner, concurrency: int, **options: Any) -> None:
        """Be a Temporal worker on `task_queue` (see `_worker.serve`)."""
        from ._worker import serve

        await serve(self, runner, concurrency, **options)

    async def close(self) -> None:
        """Forget the client (Temporal's client holds no resource to release explicitly)."""
        self._client = None
