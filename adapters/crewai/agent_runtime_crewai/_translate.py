"""CrewAI's process-global event bus, reported to each run's `RunRecorder`.

| CrewAI event | recorder call |
| --- | --- |
| `task_started` / `task_completed` / `task_failed` | `step_started(name, "task")` / output stored, `step_completed` / `step_failed` |
| `agent_execution_started` / `_completed` / `_error` | `step_started(role, "agent")` in the task / `assistant_message`, `step_completed` / `step_failed` |
| `llm_call_started` / `_completed` / `_failed` | `llm_call_started(model, call_id)` / `llm_call_completed(usage)` / `llm_call_failed` |
| `llm_stream_chunk` (text) | `llm_delta` |
| `tool_usage_started` / `_finished` / `_error`, `tool_validate_input_error`, `tool_selection_error` | `tool_call` (the model's call id) / `tool_result` (`result` or `error`) |

**Routing.** CrewAI has one event bus per process; its synchronous handlers run on a 10-thread
pool, unordered, and may still run after `akickoff()` returned; model calls and tools run on
worker threads. So ONE handler is subscribed to every CrewAI event class, once per process; it
routes each event to its run by a `ContextVar` set before kickoff (CrewAI copies the context into
its pool and threads), else by the ids and fingerprints of the run's own crew, tasks and agents.

**Order.** The event hops to the run's loop (`call_soon_threadsafe`), where a reorder buffer
releases events in CrewAI's `emission_sequence` order (a gap open longer than `gap_seconds` is
skipped, so one lost event cannot stall a run); one consumer task per run calls the recorder.

**Cancel.** ONE `before_llm_call` and ONE `before_tool_call` hook block the calls of a run that
was cancelled or has ended (CrewAI has no cancel API; this is its cooperative one).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import heapq
import importlib
import itertools
import pkgutil
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent_runtime_core import ErrorInfo, EventType
from agent_runtime_core.integration import RunRecorder, get_logger, tool_arguments

if TYPE_CHECKING:
    from crewai import Crew

    from ._state import Saved

__all__ = ["Translation", "current_translation", "install_global_handlers"]

logger = get_logger("agent_runtime_crewai")

_CURRENT: contextvars.ContextVar[Translation | None] = contextvars.ContextVar("agent_runtime_crewai_run", default=None)
_BY_KEY: dict[str, Translation] = {}
_REGISTRY_LOCK = threading.Lock()
_INSTALL_LOCK = threading.Lock()
_installed = threading.Event()


def current_translation() -> Translation | None:
    """The translation of the run executing in this context, if any."""
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
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def _event_keys(source: Any, event: Any) -> Iterable[str]:
    for attr, kind in (("task_id", "task"), ("agent_id", "agent"), ("source_fingerprint", "fp")):
        value = getattr(event, attr, None)
        if value:
            yield f"{kind}:{value}"
    source_id = getattr(source, "id", None)
    if source_id is not None:
        yield f"id:{source_id}"


def _route(source: Any, event: Any) -> Translation | None:
    found = _CURRENT.get()
    if found is not None or not _BY_KEY:
        return found
    return next((t for key in _event_keys(source, event) if (t := _BY_KEY.get(key)) is not None), None)


def _on_event(source: Any, event: Any) -> None:
    """The one handler subscribed to every CrewAI event class (runs on CrewAI's handler pool)."""
    translation = _route(source, event)
    if translation is not None:
        translation.deliver_threadsafe(source, event)


def _hook_translation(context: Any) -> Translation | None:
    found = _CURRENT.get()
    if found is not None or not _BY_KEY:
        return found
    ids = (getattr(getattr(context, attr, None), "id", None) for attr in ("crew", "agent", "task"))
    return next((t for i in ids if i is not None and (t := _BY_KEY.get(f"id:{i}")) is not None), None)


def _before_call(context: Any) -> bool | None:
    """Global `before_llm_call` / `before_tool_call` hook: refuse calls of a stopped run."""
    translation = _hook_translation(context)
    if translation is not None and translation.should_block():
        translation.blocked_calls += 1
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
        register_before_llm_call_hook(_before_call)
        register_before_tool_call_hook(_before_call)
        _installed.set()


# -- one run -------------------------------------------------------------------------------------


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _tool_calls_of(response: Any) -> list[tuple[str, str, Any]]:
    """(id, name, arguments) of each tool call in an LLM response, dicts or SDK objects."""
    calls = []
    for call in response if isinstance(response, list) else []:
        function = _field(call, "function") or call
        name, call_id = _field(function, "name"), _field(call, "id")
        if name and call_id:
            calls.append((str(call_id), str(name), _field(function, "arguments")))
    return calls


def _error(event: Any, default_type: str) -> ErrorInfo:
    kind = getattr(event, "error_type", None)
    return ErrorInfo(type=getattr(kind, "__name__", None) or default_type, message=str(event.error))


class Translation:
    """One run: CrewAI's events received, put in order, and reported to the run's recorder.

    `start()` before kickoff, `finish()` after it (also on failure or cancel)."""

    def __init__(self, recorder: RunRecorder, crew: Crew, saved: Saved, *, gap_seconds: float = 0.5,
                 flush_timeout: float = 10.0) -> None:
        self.recorder = recorder
        self.ctx = recorder.ctx
        self.crew = crew
        self.saved = saved
        self.gap_seconds = gap_seconds
        self.flush_timeout = flush_timeout
        self.loop = asyncio.get_running_loop()
        self.closed = False
        """Set when the run is over: later events are dropped."""
        self.stopped = False
        """Set when the run stops (cancel, failure, interrupt): hooks block its model/tool calls."""
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
        self._token: contextvars.Token[Translation | None] | None = None
        self._pending_ids: dict[tuple[str, str], deque[tuple[str, str, Any]]] = {}
        self._open_tools: dict[tuple[str, str, str], deque[str]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Register the run for routing and make it this context's run (before kickoff)."""
        keys = [f"id:{self.crew.id}"]
        for kind, items in (("task", self.crew.tasks), ("agent", self.crew.agents)):
            for item in items:
                keys += [f"{kind}:{item.id}", f"id:{item.id}"]
                fp = getattr(getattr(item, "fingerprint", None), "uuid_str", None)
                if fp:
                    keys.append(f"fp:{fp}")
        with _REGISTRY_LOCK:
            _BY_KEY.update(dict.fromkeys(keys, self))
        self._keys = keys
        self._token = _CURRENT.set(self)
        self._consumer = asyncio.create_task(self._consume(), name=f"crewai-events:{self.ctx.run_id}")

    def should_block(self) -> bool:
        """True when the run's further model and tool calls must not happen."""
        return self.stopped or self.ctx.is_cancelled()

    async def finish(self, *, flush: bool = True) -> None:
        """Wait for CrewAI's pending handlers, report what is left in order, and close the run.
        Raises the first error the translation hit."""
        self.stopped = True
        try:
            if flush:
                from crewai.events import crewai_event_bus

                await self.loop.run_in_executor(None, functools.partial(crewai_event_bus.flush, timeout=self.flush_timeout))
            for _ in range(3):  # callbacks queued by handlers before the flush returned run first
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

    # -- delivery, in emission order --------------------------------------------------------

    def deliver_threadsafe(self, source: Any, event: Any) -> None:
        """Called on any thread: hand the event to the run's loop."""
        if not self.closed:
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
        while (item := await self._queue.get()) is not None:
            if self._error is None:
                try:
                    await self._translate(*item)
                except Exception as e:  # keep draining; finish() re-raises the first error
                    self._error = e

    async def _translate(self, source: Any, event: Any) -> None:
        # One method per CrewAI event type we translate: `_on_<event.type>`; others are ignored.
        handler = getattr(self, f"_on_{getattr(event, 'type', '')}", None)
        if handler is not None:
            await handler(getattr(event, "task", None) or source, event)

    # -- translation ------------------------------------------------------------------------

    def _index(self, task: Any) -> int:
        tid = str(getattr(task, "id", ""))
        return next((i for i, t in enumerate(self.crew.tasks) if t is task or str(t.id) == tid), -1)

    def task_name(self, index: int) -> str:
        """A task's step name: its `name`, or `task <n>: <description>`."""
        task = self.crew.tasks[index] if index >= 0 else None
        if task is not None and task.name:
            return str(task.name)
        description = _short(getattr(task, "description", "") or "")
        label = f"task {index + 1}" if index >= 0 else "task"
        return f"{label}: {description}" if description else label

    @staticmethod
    def _step(task_id: Any) -> str | None:
        return f"task:{task_id}" if task_id else None

    async def _on_task_started(self, task: Any, event: Any) -> None:
        index = self._index(task)
        agent = getattr(task, "agent", None)
        extra = {"agent": agent.role} if agent is not None else {}
        await self.recorder.step_started(self.task_name(index), "task", step_id=self._step(task.id), parent=None,
                                         task_index=index, **extra)

    async def _on_task_completed(self, task: Any, event: Any) -> None:
        index = self._index(task)
        if index >= 0:
            key = await self.saved.save_task(index, self.task_name(index), event.output)
            if key is not None:  # stored before the step completes: a crash after it loses nothing
                payload = {"checkpoint_id": uuid.uuid4().hex, "key": key, "task_index": index}
                await self.ctx.emit(EventType.CHECKPOINT, payload, step=self.task_name(index))
        output = str(getattr(event.output, "raw", "") or "")
        await self.recorder.step_completed(f"task:{task.id}", task_index=index, output=output)

    async def _on_task_failed(self, task: Any, event: Any) -> None:
        index = self._index(task)
        await self.recorder.step_failed(f"task:{task.id}", _error(event, "TaskError"), task_index=index)

    def _agent_step(self, event: Any) -> str:
        return f"agent:{event.agent.id}:{getattr(getattr(event, 'task', None), 'id', '')}"

    async def _on_agent_execution_started(self, task: Any, event: Any) -> None:
        parent = self._step(getattr(getattr(event, "task", None), "id", None))
        await self.recorder.step_started(event.agent.role, "agent", step_id=self._agent_step(event), parent=parent)

    async def _on_agent_execution_completed(self, task: Any, event: Any) -> None:
        step = self._agent_step(event)
        if isinstance(event.output, str):
            await self.recorder.assistant_message(event.output, step=step, agent=event.agent.role)
        await self.recorder.step_completed(step)

    async def _on_agent_execution_error(self, task: Any, event: Any) -> None:
        await self.recorder.step_failed(self._agent_step(event), _error(event, "AgentExecutionError"))

    async def _on_llm_call_started(self, task: Any, event: Any) -> None:
        await self.recorder.llm_call_started(str(event.model or "unknown"), call_id=str(event.call_id),
                                             step=self._step(event.task_id))

    async def _on_llm_stream_chunk(self, task: Any, event: Any) -> None:
        if getattr(event, "tool_call", None) is None:
            await self.recorder.llm_delta(str(event.call_id), event.chunk)

    async def _on_llm_call_completed(self, task: Any, event: Any) -> None:
        calls = _tool_calls_of(event.response)
        if calls:
            self._pending_ids.setdefault(self._tool_key(event), deque()).extend(calls)
        usage = event.usage if isinstance(getattr(event, "usage", None), dict) and event.usage else None
        await self.recorder.llm_call_completed(str(event.call_id), usage=usage, model=event.model or None)

    async def _on_llm_call_failed(self, task: Any, event: Any) -> None:
        await self.recorder.llm_call_failed(str(event.call_id), _error(event, "LLMCallFailed"), model=event.model or None)

    # tools: CrewAI's tool events carry no call id; the model's ids come from the LLM response.

    @staticmethod
    def _tool_key(event: Any) -> tuple[str, str]:
        return (str(getattr(event, "task_id", None) or ""), str(getattr(event, "agent_id", None) or ""))

    def _claim_call_id(self, event: Any) -> str | None:
        """The model's id for this tool call (same name, same arguments first), if known."""
        pending = self._pending_ids.get(self._tool_key(event))
        name, args = str(event.tool_name), tool_arguments(event.tool_args)
        for exact in (True, False):
            for entry in pending or ():
                if entry[1] == name and (not exact or tool_arguments(entry[2]) == args):
                    pending.remove(entry)  # type: ignore[union-attr]
                    return entry[0]
        return None

    async def _on_tool_usage_started(self, task: Any, event: Any) -> None:
        call_id = await self.recorder.tool_call(str(event.tool_name), event.tool_args, call_id=self._claim_call_id(event),
                                                step=self._step(getattr(event, "task_id", None)))
        self._open_tools.setdefault((*self._tool_key(event), str(event.tool_name)), deque()).append(call_id)

    async def _tool_done(self, event: Any, result: Any = None, error: str | None = None) -> None:
        name = str(event.tool_name)
        open_calls = self._open_tools.get((*self._tool_key(event), name))
        # No TOOL_CALL yet (e.g. the model named an unknown tool): the recorder opens one first.
        call_id = open_calls.popleft() if open_calls else (self._claim_call_id(event) or self.recorder.new_id("call"))
        await self.recorder.tool_result(call_id, result, error=error, name=name, arguments=event.tool_args,
                                        step=self._step(getattr(event, "task_id", None)))

    async def _on_tool_usage_finished(self, task: Any, event: Any) -> None:
        failure = getattr(event, "failure", None)
        if failure is not None:
            await self._tool_done(event, error=str(getattr(failure, "message", None) or getattr(failure, "reason", None) or failure))
        else:
            await self._tool_done(event, event.output)

    async def _on_tool_usage_error(self, task: Any, event: Any) -> None:
        await self._tool_done(event, error=str(event.error))

    _on_tool_validate_input_error = _on_tool_usage_error
    _on_tool_selection_error = _on_tool_usage_error
