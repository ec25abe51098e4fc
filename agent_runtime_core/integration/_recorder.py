"""`RunRecorder`: one run's events, from the facts an adapter reports.

The adapter says what happened in its framework (a step began, a model call returned, a tool
failed); the recorder emits the events of the grammar (`agent_runtime_core.events.grammar`) through
`RunContext.emit`, which redacts them and feeds the trace sinks. It keeps what is open (steps,
model calls, tool calls) by id, so every open is closed exactly once: a second close of the same id
is ignored, a close whose open was never reported opens it first, and `failed()` closes everything
still open, innermost first.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from .. import ErrorInfo, RunContext, RunResult
from ..events import EventType, tool_arguments
from ._values import (
    error_info,
    error_payload,
    error_text,
    message_text,
    result_text,
    to_jsonable,
    usage_of,
)

__all__ = ["INNERMOST", "RunRecorder", "Usage"]


class _Innermost:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INNERMOST"


INNERMOST: Final = _Innermost()
"""The default `step=` / `parent=`: the step opened last that is still open (none if none is)."""

StepRef = str | None | _Innermost
"""Which step an event happens in: a step id, `INNERMOST`, or None (outside any step)."""


@dataclass(slots=True)
class Usage:
    """Token usage of a run's model calls, summed by the recorder."""

    input_tokens: int = 0
    """Prompt tokens, summed."""
    output_tokens: int = 0
    """Completion tokens, summed."""
    calls: int = 0
    """Model calls completed."""

    def to_dict(self) -> dict[str, int]:
        """`{"input_tokens", "output_tokens", "calls"}`."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "calls": self.calls}


@dataclass(slots=True)
class _Open:
    kind: str  # "step", "llm" or "tool"
    id: str
    name: str  # step name, model, or tool name
    step: str | None  # the id of the step it is in (a step: its parent)
    step_kind: str = ""


_E = EventType


class RunRecorder:
    """Translates one run's framework facts into events. Build one per run, in `run()`::

        recorder = RunRecorder(ctx)
        try:
            step = await recorder.step_started("triage", "agent")
            call = await recorder.llm_call_started("gpt-4o", call_id=response_id)
            await recorder.llm_delta(call, "Hel")
            await recorder.llm_call_completed(call, usage=response.usage)
            await recorder.tool_call("get_weather", '{"city": "Paris"}', call_id="call_1")
            await recorder.tool_result("call_1", "Sunny")
            await recorder.step_completed(step)
        except BaseException as e:
            await recorder.failed(e)  # closes what is open: tool, call, step (innermost first)
            raise
        return await recorder.finished(answer)

    Ids are the framework's own (a LangChain run id, a CrewAI call id, the model's tool call id) or
    made up by the recorder (returned by the `*_started` methods). Every event is tagged with its
    step (`Event.step`, the step's name) and a `span_id` (the step's, call's or tool call's id).
    Not thread-safe: call it from the run's event loop (hop there first from framework threads).

    Args:
        ctx: The run's context; events go through `ctx.emit`.
    """

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        """The run's context."""
        self.usage = Usage()
        """Tokens of the completed model calls, summed."""
        self._emit = ctx.emit
        self._open: dict[tuple[str, str], _Open] = {}  # in the order opened: innermost last
        self._steps: list[_Open] = []  # open steps, innermost last
        self._names: dict[str, str] = {}  # step id -> name, for every step seen
        self._closed: set[tuple[str, str]] = set()
        self._prefix = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

    async def __aenter__(self) -> RunRecorder:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """On an exception, close everything open (`failed`); the exception propagates."""
        if exc is not None:
            await self.failed(exc)

    # -- what is open ---------------------------------------------------------------------------

    def new_id(self, kind: str = "id") -> str:
        """A fresh id, unique in the run (e.g. for a tool call the framework gives none)."""
        return f"{self._prefix}-{kind}{next(self._counter)}"

    def is_open(self, kind: str, id: str) -> bool:
        """Whether the step, llm call or tool call (`kind` = "step", "llm", "tool") `id` is open."""
        return (kind, id) in self._open

    @property
    def current_step(self) -> str | None:
        """The id of the innermost open step, if any."""
        return self._steps[-1].id if self._steps else None

    @property
    def open_steps(self) -> list[str]:
        """Ids of the open steps, outermost first."""
        return [s.id for s in self._steps]

    def step_name(self, step_id: str) -> str:
        """The name of a step seen in this run (the id itself for an unknown one)."""
        return self._names.get(step_id, step_id)

    def _step_of(self, step: StepRef) -> str | None:
        if step is INNERMOST:
            return self._steps[-1].id if self._steps else None
        return step  # type: ignore[return-value]

    def _tag(self, step_id: str | None) -> str | None:
        return None if step_id is None else self._names.get(step_id, step_id)

    def _add(self, item: _Open) -> None:
        key = (item.kind, item.id)
        self._open[key] = item
        self._closed.discard(key)
        if item.kind == "step":
            self._steps.append(item)
            self._names[item.id] = item.name

    def _take(self, kind: str, id: str) -> _Open | None:
        item = self._open.pop((kind, id), None)
        if item is not None:
            self._closed.add((kind, id))
            if kind == "step":
                self._steps.remove(item)
        return item

    # -- steps --------------------------------------------------------------------------------

    async def step_started(
        self, name: str, kind: str = "step", *, step_id: str | None = None, parent: StepRef = INNERMOST, **extra: Any
    ) -> str:
        """A step (`kind`: node, task, agent, step, handoff) began: STEP_STARTED. Returns its id
        (`step_id`, or a new one). `parent` is the enclosing step (default: the innermost open
        one), named in the payload's `parent_step`. Opening an id that is open does nothing."""
        sid = step_id if step_id is not None else self.new_id("step")
        if ("step", sid) in self._open:
            return sid
        parent_id = self._step_of(parent)
        payload: dict[str, Any] = {"name": name, "kind": kind, **extra}
        if parent_id is not None:
            payload["parent_step"] = self._names.get(parent_id, parent_id)
        self._add(_Open("step", sid, name, parent_id, kind))
        await self._emit(_E.STEP_STARTED, payload, step=name, span_id=sid)
        return sid

    async def step_completed(self, step_id: str, **extra: Any) -> bool:
        """The step finished: STEP_COMPLETED. False (no event) when it is not open."""
        item = self._take("step", step_id)
        if item is None:
            return False
        payload = {"name": item.name, "kind": item.step_kind, **extra}
        await self._emit(_E.STEP_COMPLETED, payload, step=item.name, span_id=step_id)
        return True

    async def step_failed(
        self, step_id: str, error: BaseException | ErrorInfo | Mapping[str, Any] | str, **extra: Any
    ) -> bool:
        """The step failed: what is open inside it is closed with the same error (innermost
        first), then STEP_FAILED. False (no event) when it is not open."""
        if ("step", step_id) not in self._open:
            return False
        info = error_info(error)
        inside = self._inside(step_id)
        for item in reversed(inside):
            await self._close_failed(item, info)
        step = self._take("step", step_id)
        assert step is not None
        payload = {"name": step.name, "kind": step.step_kind, "error": error_payload(info), **extra}
        await self._emit(_E.STEP_FAILED, payload, step=step.name, span_id=step_id)
        return True

    def _inside(self, step_id: str) -> list[_Open]:
        """Open items within the step (nested steps' items too), in the order opened."""
        within = {step_id}
        found: list[_Open] = []
        for item in self._open.values():
            if item.step in within and item.id != step_id:
                found.append(item)
                if item.kind == "step":
                    within.add(item.id)
        return found

    # -- model calls --------------------------------------------------------------------------

    async def llm_call_started(
        self, model: str, *, call_id: str | None = None, step: StepRef = INNERMOST, provider: str | None = None, **extra: Any
    ) -> str:
        """A model call began: LLM_CALL_STARTED. Returns its id (`call_id`, or a new one).
        Opening an id that is open does nothing."""
        cid = call_id if call_id is not None else self.new_id("llm")
        if ("llm", cid) in self._open:
            return cid
        step_id = self._step_of(step)
        payload: dict[str, Any] = {"model": model, **extra}
        if provider:
            payload["provider"] = provider
        self._add(_Open("llm", cid, model, step_id))
        await self._emit(_E.LLM_CALL_STARTED, payload, step=self._tag(step_id), span_id=cid)
        return cid

    async def llm_delta(self, call_id: str | None, text: str) -> None:
        """A streamed piece of the call's text: ASSISTANT_DELTA (none for empty text)."""
        if not text:
            return
        item = self._open.get(("llm", call_id)) if call_id is not None else None
        step_id = item.step if item is not None else self._step_of(INNERMOST)
        await self._emit(_E.ASSISTANT_DELTA, {"text": text}, step=self._tag(step_id), span_id=call_id)

    async def llm_call_completed(
        self,
        call_id: str,
        *,
        usage: Any = None,
        model: str | None = None,
        finish_reason: str | None = None,
        **extra: Any,
    ) -> bool:
        """The call returned: LLM_CALL_COMPLETED with its `usage` (any framework's usage object
        or dict; see `usage_of`), added to `usage`. A call not reported as started is started
        first; False (no event) when it was closed already."""
        item = await self._closing_llm(call_id, model or "unknown")
        if item is None:
            return False
        counts, reported = usage_of(usage)
        total = self.usage
        total.input_tokens += counts["input_tokens"]
        total.output_tokens += counts["output_tokens"]
        total.calls += 1
        payload: dict[str, Any] = {"model": model or item.name, "usage": counts, **extra}
        if not reported:
            payload["usage_reported"] = False
        if finish_reason:
            payload["finish_reason"] = finish_reason
        await self._emit(_E.LLM_CALL_COMPLETED, payload, step=self._tag(item.step), span_id=call_id)
        return True

    async def llm_call_failed(
        self, call_id: str, error: BaseException | ErrorInfo | Mapping[str, Any] | str, *, model: str | None = None
    ) -> bool:
        """The call raised: LLM_CALL_FAILED. A call not reported as started is started first;
        False (no event) when it was closed already."""
        item = await self._closing_llm(call_id, model or "unknown")
        if item is None:
            return False
        await self._close_failed(item, error_info(error), take=False)
        return True

    # -- messages and tools -------------------------------------------------------------------

    async def assistant_message(
        self, content: Any, *, step: StepRef = INNERMOST, call_id: str | None = None, **extra: Any
    ) -> bool:
        """The assistant produced a message: ASSISTANT_MESSAGE with its text (`message_text` of
        `content`: a string, content parts, a message object). False (no event) without text."""
        text = message_text(content)
        if not text:
            return False
        await self._emit(_E.ASSISTANT_MESSAGE, {"content": text, **extra}, step=self._tag(self._step_of(step)), span_id=call_id)
        return True

    async def tool_call(
        self, name: str, arguments: Any = None, *, call_id: str | None = None, step: StepRef = INNERMOST, **extra: Any
    ) -> str:
        """A tool was invoked: TOOL_CALL. `arguments` as the model sent them (JSON text or a
        dict; None for none). Returns the call id (`call_id`, the model's, or a new one).
        Opening an id that is open does nothing."""
        cid = call_id if call_id is not None else self.new_id("call")
        if ("tool", cid) in self._open:
            return cid
        step_id = self._step_of(step)
        self._add(_Open("tool", cid, name, step_id))
        args = {} if arguments is None else to_jsonable(tool_arguments(arguments))
        payload = {"tool_call_id": cid, "name": name, "arguments": args, **extra}
        await self._emit(_E.TOOL_CALL, payload, step=self._tag(step_id), span_id=cid)
        return cid

    async def tool_result(
        self,
        call_id: str,
        result: Any = None,
        *,
        error: BaseException | ErrorInfo | str | None = None,
        name: str | None = None,
        arguments: Any = None,
        step: StepRef = INNERMOST,
        **extra: Any,
    ) -> bool:
        """The tool returned `result` (text, or anything: see `result_text`) or failed with
        `error`: TOOL_RESULT. A call not reported (e.g. made before a resume) gets its TOOL_CALL
        first, with `name`, `arguments` and `step`; False (no event) when it was answered already."""
        item = self._open.get(("tool", call_id))
        if item is None:
            if ("tool", call_id) in self._closed:
                return False
            await self.tool_call(name or "tool", arguments, call_id=call_id, step=step)
            item = self._open[("tool", call_id)]
        self._take("tool", call_id)
        payload: dict[str, Any] = {"tool_call_id": call_id, "name": item.name, **extra}
        if error is not None:
            payload["error"] = error_text(error)
        else:
            payload["result"] = result_text(result)
        await self._emit(_E.TOOL_RESULT, payload, step=self._tag(item.step), span_id=call_id)
        return True

    # -- other events -------------------------------------------------------------------------

    async def custom(self, name: str, data: Any = None, *, step: StepRef = INNERMOST) -> None:
        """A framework's own event with no type of its own: CUSTOM `{name, data}` (data made JSON)."""
        payload = {"name": name, "data": to_jsonable(data)}
        await self._emit(_E.CUSTOM, payload, step=self._tag(self._step_of(step)))

    async def progress(self, percent: float, **extra: Any) -> None:
        """Progress of the run: PROGRESS_UPDATE."""
        await self._emit(_E.PROGRESS_UPDATE, {"percent": percent, **extra})

    async def checkpoint(self, state: dict[str, Any], *, step: StepRef = INNERMOST) -> None:
        """Save the run's state (`RunContext.checkpoint`: redacted on save), then CHECKPOINT."""
        await self.ctx.checkpoint(state, step=self._tag(self._step_of(step)))

    # -- endings ------------------------------------------------------------------------------

    async def failed(self, error: BaseException | ErrorInfo | Mapping[str, Any] | str) -> ErrorInfo:
        """The run failed or was cancelled: close everything open, innermost first (tool calls
        get TOOL_RESULT with `error`, model calls LLM_CALL_FAILED, steps STEP_FAILED), each once.
        Returns the error as an `ErrorInfo` (a cancellation: `RunCancelledError`)."""
        info = error_info(error)
        for item in reversed(list(self._open.values())):
            if (item.kind, item.id) in self._open:
                await self._close_failed(item, info)
        return info

    async def interrupted(self, interrupt: Mapping[str, Any] | str, **extra: Any) -> RunResult:
        """The run stops for a human: open steps get STEP_COMPLETED with `interrupted: true`
        (innermost first), open model calls LLM_CALL_FAILED; tool calls waiting for approval stay
        open (their TOOL_RESULT comes after the resume). Returns the `RunResult` to return, its
        `interrupt` = `interrupt` (a string becomes `{"question": ...}`) plus `extra`."""
        for item in reversed(list(self._open.values())):
            if item.kind == "llm":
                await self._close_failed(item, ErrorInfo("RunInterrupted", "The run stopped for a human.", retriable=False))
            elif item.kind == "step":
                await self.step_completed(item.id, interrupted=True)
        question = {"question": interrupt} if isinstance(interrupt, str) else dict(interrupt)
        return RunResult(interrupt={**question, **extra})

    async def finished(
        self, response: Any, *, final_messages: list[dict[str, Any]] | None = None, **output: Any
    ) -> RunResult:
        """The run is done: open steps get STEP_COMPLETED (innermost first); a model or tool call
        still open (its end never reported) is closed as failed. Returns the `RunResult`:
        `final_output = {"response": message_text(response), **output}`."""
        unfinished = ErrorInfo("Unfinished", "The run ended before this call reported its end.", retriable=False)
        for item in reversed(list(self._open.values())):
            if item.kind == "step":
                await self.step_completed(item.id)
            else:
                await self._close_failed(item, unfinished)
        text = response if isinstance(response, str) else message_text(response)
        return RunResult(final_output={"response": text, **output}, final_messages=final_messages)

    # -- helpers ------------------------------------------------------------------------------

    async def _closing_llm(self, call_id: str, model: str) -> _Open | None:
        """The open call to close; started first if never reported; None if closed already."""
        item = self._take("llm", call_id)
        if item is not None:
            return item
        if ("llm", call_id) in self._closed:
            return None
        await self.llm_call_started(model, call_id=call_id)
        return self._take("llm", call_id)

    async def _close_failed(self, item: _Open, info: ErrorInfo, *, take: bool = True) -> None:
        if take and self._take(item.kind, item.id) is None:
            return
        tag = self._tag(item.step)
        payload: dict[str, Any]
        if item.kind == "tool":
            payload = {"tool_call_id": item.id, "name": item.name, "error": error_text(info)}
            await self._emit(_E.TOOL_RESULT, payload, step=tag, span_id=item.id)
        elif item.kind == "llm":
            payload = {"model": item.name, "error": error_payload(info)}
            await self._emit(_E.LLM_CALL_FAILED, payload, step=tag, span_id=item.id)
        else:
            payload = {"name": item.name, "kind": item.step_kind, "error": error_payload(info)}
            await self._emit(_E.STEP_FAILED, payload, step=item.name, span_id=item.id)
