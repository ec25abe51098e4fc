"""What an agent gets for one run (`RunContext`), and the run and step executing in this task.

The runner makes each run's context current (`use_run_context`), so that code called by the agent
(model clients, tools) finds it with `current_run_context()` without being handed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

from ._redaction import EventRedactor, refresh_configured_secrets
from .events.base import Event, EventType
from .messages import validate_messages

if TYPE_CHECKING:
    from .state.base import StateStore
    from .tools import ToolRegistry

__all__ = ["RunContext", "current_run_context", "current_step", "use_run_context"]


_current_context: ContextVar[RunContext | None] = ContextVar("agent_runtime_run", default=None)
_current_step: ContextVar[str | None] = ContextVar("agent_runtime_step", default=None)


def current_run_context() -> RunContext | None:
    """The `RunContext` of the run executing in this task, if any (LLM clients use it to emit
    LLM_CALL events without being handed the context)."""
    return _current_context.get()


@contextlib.contextmanager
def use_run_context(ctx: RunContext) -> Iterator[RunContext]:
    """Make `ctx` the current run context in this block (what the runner does for each run;
    useful when driving an agent or a client by hand)."""
    token = _current_context.set(ctx)
    try:
        yield ctx
    finally:
        _current_context.reset(token)


def current_step() -> str | None:
    """The step executing in this task, if any; `RunContext.emit` tags events with it."""
    return _current_step.get()


Publisher = Callable[[Event], Awaitable[None]]


async def _discard(event: Event) -> None:
    return None


class RunContext:
    """Everything an agent gets for one run: its input, and the means to report and persist.

    The runner builds one per run; tests build one with `create_test_context()`.
    """

    _tool_registry: ClassVar[type[ToolRegistry] | None] = None
    # The class of the empty registry `tools` defaults to. The `tools` package imports this module,
    # so this module does not import it: `agent_runtime_core.tools` sets this when it loads.

    def __init__(
        self,
        *,
        run_id: str | uuid.UUID | None = None,
        input_messages: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        tools: ToolRegistry | None = None,
        agent_key: str = "",
        publish: Publisher | None = None,
        state_store: StateStore | None = None,
        start_seq: int = 0,
    ) -> None:
        # Attributes set here are the whole state of a run context; adapters may read them all.
        self.run_id: str = str(run_id) if run_id is not None else str(uuid.uuid4())
        """The run's id (a string; UUIDs are converted)."""
        self.input_messages: list[dict[str, Any]] = validate_messages(input_messages)
        """The run's input: OpenAI-style message dicts."""
        self.metadata: dict[str, Any] = dict(metadata or {})
        """Free-form metadata passed with the run."""
        self.input_data: dict[str, Any] = {"messages": self.input_messages}
        """The run's whole input as submitted (adapters read framework-specific keys here)."""
        self._tools = tools
        self.agent_key = agent_key
        """Key of the agent executing the run."""
        self.attempt = 1
        """Which attempt this is, from 1."""
        self.resume_value: Any = None
        """The human's answer when the run is resumed after RUN_INTERRUPTED (see
        `AgentRunner.resume`); None on an ordinary run."""
        self.is_resuming = False
        """True when this execution resumes an interrupted run."""
        self._publish = publish or _discard
        self._state_store = state_store
        self._seq = start_seq
        self._emit_lock = asyncio.Lock()
        self._cancel_requested = False
        self._cancel_event: asyncio.Event | None = None
        self._redactor = EventRedactor()
        refresh_configured_secrets()  # the keys of the configuration as it is now are masked

    def __repr__(self) -> str:
        return (
            f"<RunContext run_id={self.run_id!r} agent={self.agent_key!r} attempt={self.attempt}"
            f" messages={len(self.input_messages)} cancelled={self._cancel_requested}>"
        )

    @property
    def tools(self) -> ToolRegistry:
        """Tools available to the agent (an empty registry unless the agent has `tools`)."""
        if self._tools is None:
            registry = RunContext._tool_registry
            if registry is None:  # only if something imported this module but not the package
                raise RuntimeError("Import agent_runtime_core before using RunContext.tools.")
            self._tools = registry()
        return self._tools

    @tools.setter
    def tools(self, tools: ToolRegistry) -> None:
        self._tools = tools

    @property
    def state_store(self) -> StateStore | None:
        """The run's state store (adapters keep framework state there); None when the context
        has no persistence."""
        return self._state_store

    @property
    def last_seq(self) -> int:
        """The `seq` of the last event this context emitted."""
        return self._seq

    async def emit(
        self,
        event_type: EventType | str,
        payload: dict[str, Any] | None = None,
        *,
        step: str | None = None,
        span_id: str | None = None,
    ) -> Event:
        """Emit an event on the run's stream and return it. `step` defaults to the current step.

        The payload is redacted on the way out (secrets masked; the dict given is not changed). A
        streamed ASSISTANT_DELTA whose end could begin a secret has that end held back and sent
        with the next delta of its `span_id` (or, as a delta of its own, before that span's next
        other event or the run's end), so its text may differ from the text given."""
        if not isinstance(event_type, EventType):
            try:
                event_type = EventType(event_type)
            except ValueError:
                allowed = ", ".join(e.name for e in EventType)
                raise ValueError(f"Unknown event type {event_type!r}; use one of: {allowed}.") from None
        if payload is None:
            payload = {}
        elif not isinstance(payload, dict):
            raise TypeError(f"Event payload must be a dict; got {type(payload).__name__}.")
        if step is None:
            step = _current_step.get()
        async with self._emit_lock:  # seq order == publish order, even for concurrent emitters
            # The redaction boundary: no payload leaves the run unredacted (see `_redaction`).
            payload, held = self._redactor.payload(event_type, payload, span_id, step)
            for held_span, held_step, text in held:  # streamed text held back, then completed
                if text:
                    await self._publish_new(EventType.ASSISTANT_DELTA, {"text": text}, held_step, held_span)
            return await self._publish_new(event_type, payload, step, span_id)

    async def _publish_new(
        self, event_type: EventType, payload: dict[str, Any], step: str | None, span_id: str | None
    ) -> Event:
        seq = self._seq + 1
        event = Event(self.run_id, seq, event_type, time.time(), payload, step, span_id)
        await self._publish(event)
        self._seq = seq  # only once stored: a failed publish leaves no gap behind
        return event

    async def checkpoint(self, state: dict[str, Any], *, step: str | None = None) -> None:
        """Save the run's state, so that a re-executed run can resume from it.

        The state must be JSON-serializable. Each checkpoint replaces the previous one. The
        CHECKPOINT event is tagged with `step` (default: the current step).
        """
        if not isinstance(state, dict):
            raise TypeError(f"Checkpoint state must be a dict; got {type(state).__name__}.")
        if self._state_store is None:
            raise RuntimeError("This RunContext has no state store; give the runner one.")
        await self._state_store.save_checkpoint(self.run_id, state)
        await self.emit(EventType.CHECKPOINT, {"checkpoint_id": uuid.uuid4().hex}, step=step)

    async def get_checkpoint(self) -> dict[str, Any] | None:
        """The run's last saved state, or None when it has none."""
        if self._state_store is None:
            return None
        return await self._state_store.get_checkpoint(self.run_id)

    def is_cancelled(self) -> bool:
        """True once cancellation of this run was requested; stop work at the next chance."""
        return self._cancel_requested

    async def wait_cancelled(self) -> None:
        """Return when cancellation is requested (for racing long waits against a cancel)."""
        if self._cancel_requested:
            return
        if self._cancel_event is None:
            self._cancel_event = asyncio.Event()
        await self._cancel_event.wait()

    def request_cancel(self) -> None:
        """Mark the run as cancelled; the runner calls this from `cancel()`."""
        self._cancel_requested = True
        if self._cancel_event is not None:
            self._cancel_event.set()
