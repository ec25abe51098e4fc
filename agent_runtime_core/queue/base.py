"""The `RunQueue` protocol: runs waiting for a worker, delivered at least once under a lease."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .._json import MAX_DEPTH, loads_bounded, redacted_prefix
from ..errors import InvalidInputError
from ..state.base import check_key

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DeadLetter",
    "DeadLetterQueue",
    "Lease",
    "QueuedRun",
    "RunQueue",
    "read_payload",
]

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""Largest queued payload a queue parses (16 MB): a larger one is handed out as invalid, unparsed.
Workers also refuse payloads over their own `max_input_bytes` (1 MB by default)."""


@dataclass
class QueuedRun:
    """A run waiting in a queue: which agent, with what input."""

    run_id: str
    """The run's id; a queue holds each run id at most once."""
    agent_key: str
    """Key of the registered agent to execute."""
    input_data: dict[str, Any] = field(default_factory=dict)
    """The run's input, as passed to `AgentRunner.execute`."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form metadata."""
    priority: int = 0
    """Higher runs first among runs that are ready."""
    deliveries: int = 0
    """How many times a worker has taken this run (set by the queue)."""
    enqueued_at: float = field(default_factory=time.time)
    """When it was submitted, seconds since the epoch."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_dict` reads it back."""
        return {
            "run_id": self.run_id,
            "agent_key": self.agent_key,
            "input_data": self.input_data,
            "metadata": self.metadata,
            "priority": self.priority,
            "deliveries": self.deliveries,
            "enqueued_at": self.enqueued_at,
        }

    @classmethod
    def from_dict(cls, data: Any) -> QueuedRun:
        """Validate and parse what came off a queue; malformed data raises `InvalidInputError`."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"A queued run must be an object; got {type(data).__name__}.")
        try:
            run_id = check_key(data.get("run_id"), "run_id")
            agent_key = check_key(data.get("agent_key"), "agent_key")
        except ValueError as e:
            raise InvalidInputError(str(e)) from None
        input_data = data.get("input_data") or {}
        metadata = data.get("metadata") or {}
        if not isinstance(input_data, dict) or not isinstance(metadata, dict):
            raise InvalidInputError("`input_data` and `metadata` of a queued run must be objects.")
        priority, deliveries = data.get("priority", 0), data.get("deliveries", 0)
        enqueued_at = data.get("enqueued_at", time.time())
        for name, value in (("priority", priority), ("deliveries", deliveries)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError(f"`{name}` of a queued run must be an integer.")
        if not isinstance(enqueued_at, int | float) or isinstance(enqueued_at, bool):
            raise InvalidInputError("`enqueued_at` of a queued run must be a number.")
        return cls(run_id, agent_key, input_data, metadata, priority, deliveries, float(enqueued_at))


def read_payload(
    run_id: str, payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES
) -> tuple[QueuedRun, str | None]:
    """Read one queued payload (the JSON of a `QueuedRun`, as bytes): `(run, None)`, or for a
    payload that cannot be read `(placeholder run, reason)`. Never raises: whatever one payload
    holds (bytes that are not UTF-8, JSON nested 50,000 deep, an integer of 5,000 digits, another
    run's id), it concerns that run alone."""
    try:
        data = loads_bounded(payload, what="it", max_bytes=max_bytes, max_depth=MAX_DEPTH)
        run = QueuedRun.from_dict(data)
        if run.run_id != run_id:
            raise InvalidInputError(f"it names run {_show(run.run_id)}, but it was queued as {_show(run_id)}")
        return run, None
    except InvalidInputError as e:
        reason = f"The queued payload of run {_show(run_id)} is malformed: {e}"
    except Exception as e:  # a bug in the checks above must not escape either
        reason = f"The queued payload of run {_show(run_id)} could not be read ({type(e).__name__})."
    return QueuedRun(run_id=run_id, agent_key=""), reason


def _show(run_id: str) -> str:
    """A short ASCII repr of a run id that may be hostile (long, control characters, not UTF-8)."""
    text = ascii(run_id)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class DeadLetter:
    """A run a worker refused to execute (unreadable payload, unknown agent, over a limit, poison),
    kept with the reason until it is requeued or deleted."""

    run_id: str
    reason: str
    """Why it was refused, as recorded on the run's FAILED result."""
    dead_at: float
    """When it was moved to the dead letters, seconds since the epoch."""
    deliveries: int
    """How many times it had been delivered."""
    payload_bytes: int
    """Size of its stored payload."""
    payload_preview: str
    """The start of its payload, short, printable and with secrets masked (never the payload)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `agent-runtime dead-letters list --json` prints)."""
        return {
            "run_id": self.run_id,
            "reason": self.reason,
            "dead_at": self.dead_at,
            "deliveries": self.deliveries,
            "payload_bytes": self.payload_bytes,
            "payload_preview": self.payload_preview,
        }


def preview(payload: bytes | str) -> str:
    """The `payload_preview` of a dead letter."""
    return redacted_prefix(payload, 60)


@dataclass
class Lease:
    """A worker's hold on a run. Until it expires no other worker gets the run; renew it with
    `RunQueue.extend` (a heartbeat), end it with `ack` (done) or `nack` (give it back)."""

    run: QueuedRun
    worker_id: str
    token: str
    """Proves which delivery this lease belongs to; a stale lease cannot ack a redelivered run."""
    expires_at: float
    """When the run goes back to the queue unless extended (monotonic clock of the queue)."""
    invalid: str | None = None
    """Why the stored payload could not be read as a `QueuedRun` (None when it could): the worker
    records such a run FAILED with `InvalidInputError` and moves it to the dead letters instead
    of executing it. `run` then holds only the run id."""
    payload_bytes: int = 0
    """Size of the stored payload in bytes when the queue holds payloads as bytes (0 otherwise);
    the worker refuses runs over its `max_input_bytes`."""


@runtime_checkable
class RunQueue(Protocol):
    """Runs waiting for workers, with at-least-once delivery.

    A run taken by a worker that dies goes back to the queue when its lease expires; a worker must
    therefore tolerate seeing a run again (the runner resumes it from its checkpoint).

    Optional capabilities, found by name: `process_local = True` (only this process sees the
    queue), `release`, `dead_letter` and the `DeadLetterQueue` methods, `dequeue_many`,
    `extend_many`, `request_cancel` / `cancel_reasons` / `watch_cancels`, `completes_in(store)`.
    """

    async def enqueue(self, run: QueuedRun, *, delay_seconds: float = 0.0) -> bool:
        """Add a run, ready after `delay_seconds`. Returns False (and changes nothing) when a run
        with that id is already waiting or leased: submitting twice is harmless."""
        ...

    async def dequeue(self, worker_id: str, *, timeout: float | None = None) -> Lease | None:
        """Take the highest-priority ready run under a lease; None if none came within `timeout`
        seconds (None waits forever)."""
        ...

    async def ack(self, lease: Lease) -> bool:
        """The run is finished: remove it. False if the lease was no longer valid."""
        ...

    async def nack(self, lease: Lease, *, delay_seconds: float = 0.0) -> bool:
        """Give the run back, ready again after `delay_seconds`. False if the lease was stale."""
        ...

    async def extend(self, lease: Lease) -> bool:
        """Renew the lease for another lease period; False if it was lost (expired and retaken)."""
        ...

    async def size(self) -> int:
        """How many runs are waiting or leased."""
        ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    """A queue that keeps the runs workers refused, for an operator to inspect and requeue.

    Both built-in queues implement it; a worker on a queue without it acks refused runs instead
    (their FAILED result is still recorded).
    """

    async def dead_letter(self, lease: Lease, reason: str) -> bool:
        """Move a leased run to the dead letters with `reason`; False if the lease was stale."""
        ...

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The dead letters, most recent first, at most `limit`."""
        ...

    async def count_dead_letters(self) -> int:
        """How many runs are in the dead letters."""
        ...

    async def requeue_dead_letters(self, run_ids: Sequence[str] | None = None) -> list[str]:
        """Put dead letters back in the queue (all when `run_ids` is None), their deliveries
        counted from zero; returns the run ids requeued. Use `worker.requeue_dead_letters`, which
        also forgets their FAILED results, so that workers execute them again."""
        ...

    async def delete_dead_letters(self, run_ids: Sequence[str] | None = None) -> int:
        """Forget dead letters (all when `run_ids` is None); returns how many."""
        ...
