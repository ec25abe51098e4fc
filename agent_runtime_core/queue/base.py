"""The `RunQueue` protocol: runs waiting for a worker, delivered at least once under a lease."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidInputError
from ..state.base import check_key

__all__ = ["Lease", "QueuedRun", "RunQueue"]


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


@runtime_checkable
class RunQueue(Protocol):
    """Runs waiting for workers, with at-least-once delivery.

    A run taken by a worker that dies goes back to the queue when its lease expires; a worker must
    therefore tolerate seeing a run again (the runner resumes it from its checkpoint).
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
