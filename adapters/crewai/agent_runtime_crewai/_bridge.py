"""From CrewAI's process-global event bus and hooks to one run's own event stream.

CrewAI has one event bus per process (`crewai.events.crewai_event_bus`). Its synchronous handlers
run on a 10-thread pool, unordered, and may still run after `akickoff()` has returned; model calls
and tools run on worker threads. This module therefore:

1. registers ONE handler for every CrewAI event class, once per process (never per run);
2. routes each event to the run it belongs to: first by a `ContextVar` that the adapter sets
   before kickoff (CrewAI copies the context into its handler pool and worker threads), then, as a
   second key, by the ids of the run's own crew, tasks and agents and their fingerprints;
3. hands the event to the run's event loop thread-safely (`loop.call_soon_threadsafe`), where a
   reorder buffer releases events in CrewAI's `emission_sequence` order (a gap that stays open
   longer than `gap_seconds` is skipped, so one lost event cannot stall a run);
4. translates them, on one consumer task per run, into the runtime's grammar through `ctx.emit`;
5. registers ONE `before_llm_call` and ONE `before_tool_call` hook that block the calls of a run
   that was cancelled or has ended (CrewAI has no cancel API; this is its cooperative one).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import heapq
import importlib
import itertools
import json
import logging
import pkgutil
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent_runtime_core import EventType
from agent_runtime_core.events import tool_arguments

if TYPE_CHECKING:
    from crewai import Crew, Task

    from agent_runtime_core import RunContext

__all__ = [
    "STATE_PREFIX",
    "RunBridge",
    "current_bridge",
    "install_global_handlers",
    "state_key",
    "task_fingerprint",
]

logger = logging.getLogger("agent_runtime_crewai")

STATE_PREFIX = "crewai"
"""Keys in the StateStore: `crewai:<run_id>:task:<index>` (one completed task output each)."""

_CURRENT: contextvars.ContextVar[RunBridge | None] = contextvars.ContextVar(
    "agent_runtime_crewai_run", default=None
)
_BY_KEY: dict[str, RunBridge] = {}
_REGISTRY_LOCK = threading.Lock()
_INSTALL_LOCK = threading.Lock()
_installed = threading.Event()


def state_key(run_id: str, index: int | None = None) -> str:
    """The StateStore key of task `index`'s output in run `run_id` (or the run's prefix)."""
    prefix = f"{STATE_PREFIX}:{run_id}:task:"
    return prefix if index is None else f"{prefix}{index:05d}"


def current_bridge() -> RunBridge | None:
    """The bridge of the run executing in this context, if any."""
    return _CURRENT.get()


# -- process-global handlers and hooks -----------------------------------------------------------


def _all_event_classes() -> list[type[Any]]:
    from crewai.events.base_events import BaseEvent

    # Import every module of `crewai.events.types`, so that every event class exists before we
    # subscribe: an event class nobody subscribes to would leave a gap in the emission sequence.
    package = importlib.import_module("crewai.events.types")
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        with contextlib.suppress(Exception):
            importlib.import_module(info.name)
    seen: set[type[Any]] = set()
    stack: list[type[Any]] = [BaseEvent]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def _route(source: Any, event: Any) -> RunBridge | None:
    bridge = _CURRENT.get()
    if bridge is not None:
        return bridge
    if not _BY_KEY:
        return None
    for key in _event_keys(source, event):
        found = _BY_KEY.get(key)
        if found is not None:
            return found
    return None


def _event_keys(source: Any, event: Any) -> Iterable[str]:
    for attr, kind in (("task_id", "task"), ("agent_id", "agent"), ("source_fingerprint", "fp")):
        value = getattr(event, attr, None)
        if value:
            yield f"{kind}:{value}"
    source_id = getattr(source, "id", None)
    if source_id is not None:
        yield f"id:{source_id}"


def _on_event(source: Any, event: Any) -> None:
    """The one handler subscribed to every CrewAI event class (runs on CrewAI's handler pool)."""
    bridge = _route(source, event)
    if bridge is not None:
        bridge.deliver_threadsafe(source, event)


def _hook_bridge(context: Any) -> RunBridge | None:
    bridge = _CURRENT.get()
    if bridge is not None or not _BY_KEY:
        return bridge
    for attr in ("crew", "agent", "task"):
        obj = getattr(context, attr, None)
        obj_id = getattr(obj, "id", None)
        if obj_id is not None and (found := _BY_KEY.get(f"id:{obj_id}")) is not None:
            return found
    return None


def _before_llm_call(context: Any) -> bool | None:
    """Global `before_llm_call` hook: refuse the model call of a cancelled or finished run."""
    bridge = _hook_bridge(context)
    if bridge is not None and bridge.should_block():
        bridge.blocked_calls += 1
        return False
    return None


def _before_tool_call(context: Any) -> bool | None:
    """Global `before_tool_call` hook: refuse the tool call of a cancelled or finished run."""
    bridge = _hook_bridge(context)
    if bridge is not None and bridge.should_block():
        bridge.blocked_calls += 1
        return False
    return None


def install_global_handlers() -> None:
    """Subscribe the one event handler and register the two hooks, once per process."""
    if _installed.is_set():
        return
    with _INSTALL_LOCK:
        if _installed.is_set():
            return
        from crewai.events import crewai_event_bus
        from crewai.hooks import register_before_llm_call_hook, register_before_tool_call_hook

        for cls in _all_event_classes():
            crewai_event_bus.on(cls)(_on_event)
        register_before_llm_call_hook(_before_llm_call)
        register_before_tool_call_hook(_before_tool_call)
        _installed.set()


# -- one run -------------------------------------------------------------------------------------


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def task_fingerprint(task: Task) -> str:
    """What identifies a task across executions of one run (its templates and its agent)."""
    description = getattr(task, "_original_description", None) or task.description
    expected = getattr(task, "_original_expected_output", None) or task.expected_output
    role = getattr(task.agent, "role", "") if task.agent is not None else ""
    data = json.dumps([description, expected, role, task.name], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _tool_calls_of(response: Any) -> list[tuple[str, str, Any]]:
    """(id, name, arguments) of each tool call in an LLM response, dicts or SDK objects."""
    if not isinstance(response, list):
        return []
    calls = []
    for call in response:
        function = _get(call, "function")
        name = _get(function, "name") if function is not None else _get(call, "name")
        call_id = _get(call, "id")
        if name and call_id:
            args = _get(function, "arguments") if function is not None else _get(call, "arguments")
            calls.append((str(call_id), str(name), args))
    return calls


def _usage(event: Any) -> tuple[dict[str, int], bool]:
    raw = event.usage if isinstance(getattr(event, "usage", None), dict) else None
    if not raw:
        return {"input_tokens": 0, "output_tokens": 0}, False

    def pick(*names: str) -> int:
        for name in names:
            value = raw.get(name)
            if isinstance(value, int | float):
                return int(value)
        return 0

    return {
        "input_tokens": pick("prompt_tokens", "input_tokens"),
        "output_tokens": pick("completion_tokens", "output_tokens"),
    }, True


class RunBridge:
    """Everything one run needs to receive CrewAI's events and to be blocked when it stops.

    Built by `CrewAIRuntime.run` for the run's own copy of the crew; `start()` before kickoff,
    `finish()` after it (also on failure or cancel).
    """

    def __init__(
        self,
        ctx: RunContext,
        crew: Crew,
        *,
        fingerprints: list[str],
        gap_seconds: float = 0.5,
        flush_timeout: float = 10.0,
        ttl_seconds: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.ttl_seconds = ttl_seconds
        self.crew = crew
        self.fingerprints = fingerprints
        self.gap_seconds = gap_seconds
        self.flush_timeout = flush_timeout
        self.loop = asyncio.get_running_loop()
        self.closed = False
        """Set when the run is over: later events are dropped."""
        self.stopped = False
        """Set when the run stops (cancel, failure, timeout): hooks block its model/tool calls."""
        self.blocked_calls = 0
        self.next_seq = 1
        self._heap: list[tuple[int, int, Any, Any]] = []
        self._arrival = itertools.count()
        self._gap_handle: asyncio.TimerHandle | None = None
        self._gap_for = 0
        self._queue: asyncio.Queue[tuple[Any, Any] | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._keys: list[str] = []
        self._token: contextvars.Token[RunBridge | None] | None = None
        # translation state
        self._task_steps: dict[str, tuple[str, int]] = {}
        self._pending_ids: dict[tuple[str, str], deque[tuple[str, str, Any]]] = {}
        self._open_calls: dict[tuple[str, str, str], deque[str]] = {}
        self._call_counter = itertools.count()
        self._llm_models: dict[str, str] = {}
        self._llm_open: set[str] = set()
        self._llm_closed: set[str] = set()
        self.task_outputs: dict[int, dict[str, Any]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Register the run for routing and make it this context's run (before kickoff)."""
        keys = [f"id:{self.crew.id}"]
        for task in self.crew.tasks:
            keys += [f"task:{task.id}", f"id:{task.id}"]
            fp = getattr(getattr(task, "fingerprint", None), "uuid_str", None)
            if fp:
                keys.append(f"fp:{fp}")
        for agent in self.crew.agents:
            keys += [f"agent:{agent.id}", f"id:{agent.id}"]
            fp = getattr(getattr(agent, "fingerprint", None), "uuid_str", None)
            if fp:
                keys.append(f"fp:{fp}")
        with _REGISTRY_LOCK:
            for key in keys:
                _BY_KEY[key] = self
        self._keys = keys
        self._token = _CURRENT.set(self)
        self._consumer = asyncio.create_task(self._consume(), name=f"crewai-events:{self.ctx.run_id}")

    def should_block(self) -> bool:
        """True when the run's further model and tool calls must not happen."""
        return self.stopped or self.ctx.is_cancelled()

    async def finish(self, *, flush: bool = True) -> None:
        """Wait for CrewAI's pending handlers, emit what is left in order, and close the run.

        Raises the first error the translation hit (e.g. the event bus refused an event).
        """
        self.stopped = True
        try:
            if flush:
                from crewai.events import crewai_event_bus

                await self.loop.run_in_executor(
                    None, functools.partial(crewai_event_bus.flush, timeout=self.flush_timeout)
                )
            # Callbacks queued by handlers before the flush returned run before we go on.
            for _ in range(3):
                await asyncio.sleep(0)
            self._release(force_all=True)
        finally:
            self.closed = True
            if self._gap_handle is not None:
                self._gap_handle.cancel()
            with _REGISTRY_LOCK:
                for key in self._keys:
                    if _BY_KEY.get(key) is self:
                        del _BY_KEY[key]
            if self._token is not None:
                with contextlib.suppress(ValueError):
                    _CURRENT.reset(self._token)
                self._token = None
            if self._consumer is not None:
                self._queue.put_nowait(None)
                if flush:
                    await asyncio.shield(self._consumer)
                else:
                    self._consumer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._consumer
        if self._error is not None:
            raise self._error

    # -- delivery ---------------------------------------------------------------------------

    def deliver_threadsafe(self, source: Any, event: Any) -> None:
        """Called on any thread: hand the event to the run's loop."""
        if self.closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is long over
            self.loop.call_soon_threadsafe(self._receive, source, event)

    def _receive(self, source: Any, event: Any) -> None:
        if self.closed:
            return
        seq = getattr(event, "emission_sequence", None)
        if not isinstance(seq, int) or seq < self.next_seq:
            self._queue.put_nowait((source, event))  # late or unnumbered: pass it on now
            return
        heapq.heappush(self._heap, (seq, next(self._arrival), source, event))
        self._release()

    def _release(self, *, force_one: bool = False, force_all: bool = False) -> None:
        heap = self._heap
        while heap and (heap[0][0] <= self.next_seq or force_one or force_all):
            seq, _, source, event = heapq.heappop(heap)
            self.next_seq = max(self.next_seq, seq + 1)
            self._queue.put_nowait((source, event))
            force_one = False
        # Wait at most `gap_seconds` for the missing event `next_seq`; the timer belongs to that
        # one gap, so events arriving meanwhile do not postpone it.
        if self._gap_handle is not None and (not heap or self.closed or self._gap_for != self.next_seq):
            self._gap_handle.cancel()
            self._gap_handle = None
        if heap and not self.closed and self._gap_handle is None:
            self._gap_for = self.next_seq
            self._gap_handle = self.loop.call_later(self.gap_seconds, self._skip_gap)

    def _skip_gap(self) -> None:
        self._gap_handle = None
        if self._heap and not self.closed:
            skip = self._gap_for == self.next_seq
            if skip:
                logger.debug("Run %s: CrewAI event %d never arrived; moving on.", self.ctx.run_id, self.next_seq)
            self._release(force_one=skip)

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue
            try:
                await self._translate(*item)
            except Exception as e:  # keep draining; finish() re-raises the first error
                self._error = e

    # -- translation ------------------------------------------------------------------------

    def _task_index(self, task: Any) -> int:
        for i, candidate in enumerate(self.crew.tasks):
            if candidate is task or (task is not None and str(candidate.id) == str(getattr(task, "id", ""))):
                return i
        return -1

    def _task_step(self, task_id: Any) -> str | None:
        found = self._task_steps.get(str(task_id)) if task_id else None
        return found[0] if found else None

    def _task_name(self, task: Any, index: int) -> str:
        if getattr(task, "name", None):
            return str(task.name)
        description = _short(getattr(task, "description", "") or "", 60)
        label = f"task {index + 1}" if index >= 0 else "task"
        return f"{label}: {description}" if description else label

    async def _emit(self, kind: EventType, payload: dict[str, Any], *, step: str | None, span_id: str | None = None) -> None:
        await self.ctx.emit(kind, payload, step=step, span_id=span_id)

    async def _translate(self, source: Any, event: Any) -> None:
        # One method per CrewAI event type we translate: `_on_<event.type>`; others are ignored.
        kind = getattr(event, "type", "")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            await handler(source, event)

    # tasks

    async def _on_task_started(self, source: Any, event: Any) -> None:
        task = getattr(event, "task", None) or source
        index = self._task_index(task)
        name = self._task_name(task, index)
        self._task_steps[str(getattr(task, "id", ""))] = (name, index)
        payload: dict[str, Any] = {"name": name, "kind": "task", "task_index": index}
        agent = getattr(task, "agent", None)
        if agent is not None:
            payload["agent"] = agent.role
        await self._emit(EventType.STEP_STARTED, payload, step=name, span_id=f"task:{getattr(task, 'id', '')}")

    async def _on_task_completed(self, source: Any, event: Any) -> None:
        task = getattr(event, "task", None) or source
        task_id = str(getattr(task, "id", ""))
        name, index = self._task_steps.get(task_id) or (self._task_name(task, self._task_index(task)), self._task_index(task))
        output = event.output
        raw = str(getattr(output, "raw", "") or "")
        if index >= 0:
            record = self._output_record(index, name, output)
            self.task_outputs[index] = record
            store = self.ctx.state_store
            if store is not None:
                key = state_key(self.ctx.run_id, index)
                await store.set(key, record, ttl_seconds=self.ttl_seconds)
                await self._emit(
                    EventType.CHECKPOINT,
                    {"checkpoint_id": uuid.uuid4().hex, "key": key, "task_index": index},
                    step=name,
                )
        await self._emit(
            EventType.STEP_COMPLETED,
            {"name": name, "kind": "task", "task_index": index, "output": raw},
            step=name,
            span_id=f"task:{task_id}",
        )

    async def _on_task_failed(self, source: Any, event: Any) -> None:
        task = getattr(event, "task", None) or source
        task_id = str(getattr(task, "id", ""))
        name, index = self._task_steps.get(task_id) or (self._task_name(task, self._task_index(task)), self._task_index(task))
        error_type = getattr(event, "error_type", None)
        error = {"type": getattr(error_type, "__name__", "TaskError"), "message": str(event.error)}
        await self._emit(
            EventType.STEP_FAILED, {"name": name, "kind": "task", "task_index": index, "error": error},
            step=name, span_id=f"task:{task_id}",
        )

    def _output_record(self, index: int, name: str, output: Any) -> dict[str, Any]:
        json_dict = getattr(output, "json_dict", None)
        pydantic_obj = getattr(output, "pydantic", None)
        if json_dict is None and pydantic_obj is not None:
            with contextlib.suppress(Exception):
                json_dict = pydantic_obj.model_dump(mode="json")
        output_format = getattr(output, "output_format", None)
        return {
            "index": index,
            "fingerprint": self.fingerprints[index] if index < len(self.fingerprints) else None,
            "step": name,
            "name": getattr(output, "name", None),
            "description": str(getattr(output, "description", "") or ""),
            "expected_output": getattr(output, "expected_output", None),
            "summary": getattr(output, "summary", None),
            "raw": str(getattr(output, "raw", "") or ""),
            "json_dict": json.loads(json.dumps(json_dict, default=str)) if json_dict is not None else None,
            "agent": str(getattr(output, "agent", "") or ""),
            "output_format": getattr(output_format, "value", output_format),
        }

    # agents

    def _agent_span(self, event: Any) -> str:
        agent = getattr(event, "agent", None)
        task = getattr(event, "task", None)
        return f"agent:{getattr(agent, 'id', '')}:{getattr(task, 'id', '')}"

    async def _on_agent_execution_started(self, source: Any, event: Any) -> None:
        step = self._task_step(getattr(getattr(event, "task", None), "id", None))
        await self._emit(
            EventType.STEP_STARTED, {"name": event.agent.role, "kind": "agent"},
            step=step, span_id=self._agent_span(event),
        )

    async def _on_agent_execution_completed(self, source: Any, event: Any) -> None:
        step = self._task_step(getattr(getattr(event, "task", None), "id", None))
        if isinstance(event.output, str) and event.output:
            await self._emit(
                EventType.ASSISTANT_MESSAGE, {"content": event.output, "agent": event.agent.role},
                step=step, span_id=self._agent_span(event),
            )
        await self._emit(
            EventType.STEP_COMPLETED, {"name": event.agent.role, "kind": "agent"},
            step=step, span_id=self._agent_span(event),
        )

    async def _on_agent_execution_error(self, source: Any, event: Any) -> None:
        step = self._task_step(getattr(getattr(event, "task", None), "id", None))
        await self._emit(
            EventType.STEP_FAILED,
            {"name": event.agent.role, "kind": "agent", "error": {"type": "AgentExecutionError", "message": str(event.error)}},
            step=step, span_id=self._agent_span(event),
        )

    # model calls

    def _model(self, event: Any) -> str:
        model = getattr(event, "model", None)
        if model:
            return str(model)
        return self._llm_models.get(str(getattr(event, "call_id", "")), "unknown")

    async def _on_llm_call_started(self, source: Any, event: Any) -> None:
        model = self._model(event)
        call_id = str(event.call_id)
        self._llm_models[call_id] = model
        self._llm_open.add(call_id)
        await self._emit(
            EventType.LLM_CALL_STARTED, {"model": model, "call_id": event.call_id},
            step=self._task_step(event.task_id), span_id=event.call_id,
        )

    async def _closing_llm_call(self, event: Any) -> bool:
        """True when this event should close its call (CrewAI may report one failure twice)."""
        call_id = str(event.call_id)
        if call_id in self._llm_closed:
            return False
        if call_id not in self._llm_open:  # its start never reached us: open it for balance
            await self._on_llm_call_started(None, event)
        self._llm_open.discard(call_id)
        self._llm_closed.add(call_id)
        return True

    async def _on_llm_stream_chunk(self, source: Any, event: Any) -> None:
        if getattr(event, "tool_call", None) is None and event.chunk:
            await self._emit(
                EventType.ASSISTANT_DELTA, {"text": event.chunk},
                step=self._task_step(event.task_id), span_id=event.call_id,
            )

    async def _on_llm_call_completed(self, source: Any, event: Any) -> None:
        if not await self._closing_llm_call(event):
            return
        model = self._model(event)
        usage, reported = _usage(event)
        payload: dict[str, Any] = {"model": model, "usage": usage, "call_id": event.call_id}
        if not reported:
            payload["usage_reported"] = False
        key = (str(event.task_id or ""), str(event.agent_id or ""))
        calls = _tool_calls_of(event.response)
        if calls:
            self._pending_ids.setdefault(key, deque()).extend(calls)
        await self._emit(EventType.LLM_CALL_COMPLETED, payload, step=self._task_step(event.task_id), span_id=event.call_id)

    async def _on_llm_call_failed(self, source: Any, event: Any) -> None:
        if not await self._closing_llm_call(event):
            return
        await self._emit(
            EventType.LLM_CALL_FAILED,
            {"model": self._model(event), "call_id": event.call_id, "error": {"type": "LLMCallFailed", "message": str(event.error)}},
            step=self._task_step(event.task_id), span_id=event.call_id,
        )

    # tools

    def _tool_key(self, event: Any) -> tuple[str, str]:
        return (str(getattr(event, "task_id", None) or ""), str(getattr(event, "agent_id", None) or ""))

    def _claim_call_id(self, event: Any) -> str:
        """The model's id for this tool call, or a deterministic one when none is known."""
        key = self._tool_key(event)
        pending = self._pending_ids.get(key)
        name = str(event.tool_name)
        if pending:
            args = tool_arguments(event.tool_args)
            for exact in (True, False):
                for entry in pending:
                    if entry[1] == name and (not exact or tool_arguments(entry[2]) == args):
                        pending.remove(entry)
                        return entry[0]
        return f"crewai_call_{next(self._call_counter)}_{name}"

    async def _open_tool_call(self, event: Any, *, remember: bool = True) -> str:
        call_id = self._claim_call_id(event)
        name = str(event.tool_name)
        if remember:
            self._open_calls.setdefault((*self._tool_key(event), name), deque()).append(call_id)
        await self._emit(
            EventType.TOOL_CALL,
            {"tool_call_id": call_id, "name": name, "arguments": tool_arguments(event.tool_args)},
            step=self._task_step(getattr(event, "task_id", None)), span_id=call_id,
        )
        return call_id

    async def _close_tool_call(self, event: Any, outcome: dict[str, Any]) -> None:
        name = str(event.tool_name)
        open_calls = self._open_calls.get((*self._tool_key(event), name))
        if open_calls:
            call_id = open_calls.popleft()
        else:  # no TOOL_CALL yet (e.g. the model named an unknown tool): open one first
            call_id = await self._open_tool_call(event, remember=False)
        await self._emit(
            EventType.TOOL_RESULT, {"tool_call_id": call_id, "name": name, **outcome},
            step=self._task_step(getattr(event, "task_id", None)), span_id=call_id,
        )

    async def _on_tool_usage_started(self, source: Any, event: Any) -> None:
        await self._open_tool_call(event)

    async def _on_tool_usage_finished(self, source: Any, event: Any) -> None:
        failure = getattr(event, "failure", None)
        if failure is not None:
            message = getattr(failure, "message", None) or getattr(failure, "reason", None) or str(failure)
            await self._close_tool_call(event, {"error": str(message)})
        else:
            output = event.output
            await self._close_tool_call(event, {"result": output if isinstance(output, str) else str(output)})

    async def _on_tool_usage_error(self, source: Any, event: Any) -> None:
        await self._close_tool_call(event, {"error": str(event.error)})

    async def _on_tool_validate_input_error(self, source: Any, event: Any) -> None:
        await self._close_tool_call(event, {"error": str(event.error)})

    async def _on_tool_selection_error(self, source: Any, event: Any) -> None:
        await self._close_tool_call(event, {"error": str(event.error)})
