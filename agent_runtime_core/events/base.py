"""The event types every run speaks (`EventType`, `Event`), and the `EventBus` protocol that carries
them. Payload keys and ordering rules are in `agent_runtime_core.events.grammar`."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .._json import MAX_ARGUMENT_BYTES, loads_bounded
from ..errors import InvalidInputError

__all__ = ["TERMINAL_EVENT_TYPES", "BlockingEventReader", "Event", "EventBus", "EventType", "tool_arguments"]


class EventType(enum.StrEnum):
    """What happened in a run. Values are stable wire names: never renamed."""

    RUN_STARTED = "run.started"
    """An attempt of the run began. Payload: `agent_key`, `attempt`."""
    RUN_RETRYING = "run.retrying"
    """An attempt failed and another will follow. Payload: `attempt`, `error`, `delay_seconds`."""
    RUN_SUCCEEDED = "run.succeeded"
    """The run finished. Payload: `final_output`."""
    RUN_FAILED = "run.failed"
    """The run failed for good. Payload: `error` (an `ErrorInfo` as a dict)."""
    RUN_CANCELLED = "run.cancelled"
    """The run was cancelled. Payload: `reason`."""
    RUN_INTERRUPTED = "run.interrupted"
    """The run paused for a human. Payload: `interrupt` (the question)."""
    STEP_STARTED = "step.started"
    """A step (node, task, agent or `Step`) began. Payload: `name`, `kind`."""
    STEP_COMPLETED = "step.completed"
    """A step finished. Payload: `name`."""
    STEP_FAILED = "step.failed"
    """A step failed after its retries. Payload: `name`, `error`."""
    STEP_RETRYING = "step.retrying"
    """A step failed and will be retried. Payload: `name`, `attempt`, `error`."""
    STEP_SKIPPED = "step.skipped"
    """A step was skipped, already done before a resume. Payload: `name`."""
    PROGRESS_UPDATE = "progress.update"
    """Progress of the run. Payload: `percent`."""
    LLM_CALL_STARTED = "llm.call.started"
    """A model call began. Payload: `model`."""
    LLM_CALL_COMPLETED = "llm.call.completed"
    """A model call returned. Payload: `model`, `usage` {`input_tokens`, `output_tokens`}."""
    LLM_CALL_FAILED = "llm.call.failed"
    """A model call raised. Payload: `model`, `error`."""
    ASSISTANT_DELTA = "assistant.delta"
    """A streamed piece of the assistant's text. Payload: `text`."""
    ASSISTANT_MESSAGE = "assistant.message"
    """The assistant produced a message. Payload: `content`."""
    TOOL_CALL = "tool.call"
    """A tool was invoked. Payload: `tool_call_id`, `name`, `arguments`."""
    TOOL_RESULT = "tool.result"
    """A tool returned. Payload: `tool_call_id`, `name`, `result` or `error`."""
    CHECKPOINT = "checkpoint"
    """The run's state was saved. Payload: `checkpoint_id`."""
    CUSTOM = "custom"
    """A framework's or an agent's own event, passed on instead of dropped. Payload: `name`,
    `data` (JSON)."""


TERMINAL_EVENT_TYPES = frozenset(
    {
        EventType.RUN_SUCCEEDED,
        EventType.RUN_FAILED,
        EventType.RUN_CANCELLED,
        EventType.RUN_INTERRUPTED,
    }
)
"""Event types that end a run's execution (a resumed run starts again with RUN_STARTED)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in one run."""

    run_id: str
    """The run it belongs to."""
    seq: int
    """Position in the run's stream: 1, 2, 3, ... with no gaps."""
    type: EventType
    """What happened."""
    timestamp: float
    """When, in seconds since the epoch."""
    payload: dict[str, Any] = field(default_factory=dict)
    """Details; the keys for each type are listed on `EventType`."""
    step: str | None = None
    """The step it happened in, if any."""
    span_id: str | None = None
    """Tells apart nested or parallel work of the same step (a tool call, an LLM call)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Event.from_dict` reads it back."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "seq": self.seq,
            "type": self.type.value,
            "timestamp": self.timestamp,
            "payload": self.payload,
        }
        if self.step is not None:
            data["step"] = self.step
        if self.span_id is not None:
            data["span_id"] = self.span_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Parse and validate an event dict (as stored or sent over the wire)."""
        try:
            run_id, seq, type_, ts = data["run_id"], data["seq"], data["type"], data["timestamp"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"Not an event: missing field {e}") from None
        if not isinstance(run_id, str) or not run_id:
            raise ValueError("Event `run_id` must be a non-empty string.")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"Event `seq` must be an integer >= 1; got {seq!r}.")
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            raise ValueError(f"Event `timestamp` must be a number; got {ts!r}.")
        payload = data.get("payload")
        if payload is None:
            payload = {}
        elif not isinstance(payload, dict):
            raise ValueError("Event `payload` must be an object.")
        step, span_id = data.get("step"), data.get("span_id")
        if step is not None and not isinstance(step, str):
            raise ValueError("Event `step` must be a string.")
        if span_id is not None and not isinstance(span_id, str):
            raise ValueError("Event `span_id` must be a string.")
        return cls(run_id, seq, EventType(type_), float(ts), payload, step, span_id)

    @property
    def is_terminal(self) -> bool:
        """True for the events that end a run's execution."""
        return self.type in TERMINAL_EVENT_TYPES


@runtime_checkable
class EventBus(Protocol):
    """Where a run's events go, and where consumers read them back.

    Backends that persist events (all of ours) keep each run's stream in `seq` order: a consumer
    that reconnects with the last `seq` it saw receives every later event exactly once.
    """

    async def publish(self, event: Event) -> None:
        """Append an event to its run's stream. An event whose `seq` is already stored is ignored
        (redelivery is harmless); a `seq` that would leave a gap is an error."""
        ...

    async def get_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """The run's stored events with `seq > after_seq`, in order."""
        ...

    def subscribe(self, run_id: str, after_seq: int = 0) -> AsyncIterator[Event]:
        """Every event with `seq > after_seq`, stored and future, in order; ends after the run's
        terminal event."""
        ...

    async def last_seq(self, run_id: str) -> int:
        """The highest `seq` stored for the run (0 if none); a resumed run continues after it."""
        ...


@runtime_checkable
class BlockingEventReader(Protocol):
    """An event bus that can wait on the server for a run's next events (`RedisEventBus`):
    `AgentRunner.wait` then wakes on the run's events instead of polling its result."""

    block_seconds: float
    """Longest single wait of `read`."""

    async def read(self, run_id: str, after_seq: int = 0, *, block_seconds: float = 0.0) -> list[Event]:
        """Events with `seq > after_seq`; when there are none yet, wait up to `block_seconds`."""
        ...


def tool_arguments(raw: Any) -> Any:
    """A tool call's arguments as TOOL_CALL events carry them: a dict when `raw` is a dict or the
    JSON text of an object (what models send), otherwise `raw` unchanged."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = loads_bounded(raw, what="Tool arguments", max_bytes=MAX_ARGUMENT_BYTES)
        except InvalidInputError:  # not JSON, or over a limit: the event carries the text
            return raw
        if isinstance(parsed, dict):
            return parsed
    return raw
