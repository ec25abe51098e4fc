"""The event grammar mapped to AG-UI: one mapping for every framework (nothing here knows which
framework ran the run), validated by `ag-ui-protocol`'s own models as each event is built.

| grammar                          | AG-UI                                                          |
|----------------------------------|----------------------------------------------------------------|
| run.started (first attempt)      | RUN_STARTED                                                    |
| run.succeeded                    | RUN_FINISHED (result: final_output, usage per model)           |
| run.failed                       | RUN_ERROR (message, code: the error's type)                    |
| run.cancelled                    | RUN_FINISHED (outcome: cancelled)                              |
| run.interrupted                  | RUN_FINISHED (outcome: interrupt, one Interrupt)               |
| step.started / completed, failed | STEP_STARTED / STEP_FINISHED                                   |
| assistant.delta                  | TEXT_MESSAGE_START (first of its LLM call), TEXT_MESSAGE_CONTENT |
| llm.call.completed / failed      | TEXT_MESSAGE_END (if it streamed), then CUSTOM                 |
| assistant.message                | TEXT_MESSAGE_START, CONTENT, END (unless its text was streamed)|
| tool.call                        | TOOL_CALL_START, TOOL_CALL_ARGS (the JSON), TOOL_CALL_END      |
| tool.result                      | TOOL_CALL_RESULT                                               |
| checkpoint carrying `state`      | STATE_SNAPSHOT, then CUSTOM                                    |
| everything else                  | CUSTOM (name: the grammar type, value: the payload)            |

A mapper is a pure function of the events fed to it, so replaying a run's events gives the same
AG-UI events with the same ids: that is what lets an AG-UI stream resume (`ResumeTracker`).
Before the run's end every open message and step is closed, as AG-UI's clients require.
"""

from __future__ import annotations

import json
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Interrupt,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.core.events import EventType as AguiType

from ..events import Event, EventType
from ..integration import to_jsonable
from ._http import parse_count

__all__ = ["AguiMapper", "ResumeTracker", "interrupt_id", "parse_interrupt_id"]

_INTERRUPT_SEP = "@"


def interrupt_id(run_id: str, seq: int) -> str:
    """The AG-UI id of the interrupt that ended run `run_id` at event `seq`."""
    return f"{run_id}{_INTERRUPT_SEP}{seq}"


def parse_interrupt_id(value: str) -> tuple[str, int] | None:
    """(run_id, seq) from `interrupt_id`'s form, or None."""
    run_id, sep, seq_text = value.rpartition(_INTERRUPT_SEP)
    seq = parse_count(seq_text)
    if not sep or not run_id or seq is None:
        return None
    return run_id, seq


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


class AguiMapper:
    """Maps one run's grammar events to AG-UI events, in order.

    `thread_id` and `run_id` are the AG-UI ids the client chose; `source_run_id` is the run whose
    events these are (it names interrupts, so an answer finds its run).
    """

    def __init__(self, thread_id: str, run_id: str, source_run_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.source_run_id = source_run_id
        self.started = False
        self.finished = False
        self._open_text: dict[str, str] = {}  # LLM call (span) -> message id
        self._streamed: list[str] = []  # text streamed since the last assistant.message
        self._buffers: dict[str, list[str]] = {}
        self._open_steps: list[str] = []
        self._usage: dict[tuple[str, str], list[int]] = {}
        self._last_message_id: str | None = None

    def feed(self, event: Event) -> list[BaseEvent]:
        """The AG-UI events for one grammar event (none once the run has finished)."""
        if self.finished:
            return []
        ts = int(event.timestamp * 1000)
        p = event.payload
        t = event.type
        out: list[BaseEvent] = []
        if t is EventType.RUN_STARTED and not self.started:
            self.started = True
            return [RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, timestamp=ts)]
        if not self.started:  # a stream joined mid-run: AG-UI needs RUN_STARTED first
            self.started = True
            out.append(RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, timestamp=ts))
        if t in (EventType.RUN_SUCCEEDED, EventType.RUN_FAILED, EventType.RUN_CANCELLED, EventType.RUN_INTERRUPTED):
            out += self._close_all(ts)
            out.append(self._terminal(event, ts))
            self.finished = True
        elif t is EventType.RUN_RETRYING:
            out += self._close_all(ts)
            out.append(self._custom(event, ts))
        elif t is EventType.STEP_STARTED:
            name = str(p.get("name") or event.step or "step")
            if name in self._open_steps:
                out.append(self._custom(event, ts))
            else:
                self._open_steps.append(name)
                out.append(StepStartedEvent(step_name=name, timestamp=ts))
        elif t in (EventType.STEP_COMPLETED, EventType.STEP_FAILED):
            name = str(p.get("name") or event.step or "step")
            if t is EventType.STEP_FAILED:
                out.append(self._custom(event, ts))
            if name in self._open_steps:
                self._open_steps.remove(name)
                out.append(StepFinishedEvent(step_name=name, timestamp=ts))
            elif t is EventType.STEP_COMPLETED:
                out.append(self._custom(event, ts))
        elif t is EventType.ASSISTANT_DELTA:
            span = event.span_id or ""
            message_id = self._open_text.get(span)
            if message_id is None:
                message_id = self._open_text[span] = f"{self.run_id}-msg-{event.seq}"
                self._last_message_id = message_id
                self._buffers[message_id] = []
                out.append(TextMessageStartEvent(message_id=message_id, role="assistant", timestamp=ts))
            text = str(p.get("text", ""))
            self._buffers[message_id].append(text)
            out.append(TextMessageContentEvent(message_id=message_id, delta=text, timestamp=ts))
        elif t in (EventType.LLM_CALL_COMPLETED, EventType.LLM_CALL_FAILED):
            out += self._close_text(event.span_id or "", ts)
            if t is EventType.LLM_CALL_COMPLETED:
                self._count_usage(p)
            out.append(self._custom(event, ts))
        elif t is EventType.ASSISTANT_MESSAGE:
            out += self._close_text(event.span_id or "", ts)
            content = _text(p.get("content", ""))
            if content.strip() not in {s.strip() for s in self._streamed}:
                message_id = self._last_message_id = f"{self.run_id}-msg-{event.seq}"
                out.append(TextMessageStartEvent(message_id=message_id, role="assistant", timestamp=ts))
                out.append(TextMessageContentEvent(message_id=message_id, delta=content, timestamp=ts))
                out.append(TextMessageEndEvent(message_id=message_id, timestamp=ts))
            self._streamed.clear()
        elif t is EventType.TOOL_CALL:
            call_id = str(p.get("tool_call_id") or f"{self.run_id}-call-{event.seq}")
            arguments = p.get("arguments")
            out.append(ToolCallStartEvent(
                tool_call_id=call_id, tool_call_name=str(p.get("name") or "tool"),
                parent_message_id=self._last_message_id, timestamp=ts,
            ))
            out.append(ToolCallArgsEvent(tool_call_id=call_id, delta=_text({} if arguments is None else arguments), timestamp=ts))
            out.append(ToolCallEndEvent(tool_call_id=call_id, timestamp=ts))
        elif t is EventType.TOOL_RESULT:
            call_id = str(p.get("tool_call_id") or f"{self.run_id}-call-{event.seq}")
            content = _text(p["error"]) if "error" in p and "result" not in p else _text(p.get("result", ""))
            out.append(ToolCallResultEvent(
                message_id=f"{self.run_id}-tool-{event.seq}", tool_call_id=call_id, content=content, role="tool", timestamp=ts
            ))
        else:
            if t is EventType.CHECKPOINT and "state" in p:
                out.append(StateSnapshotEvent(snapshot=p["state"], timestamp=ts))
            out.append(self._custom(event, ts))
        return out

    def _custom(self, event: Event, ts: int) -> CustomEvent:
        value: dict[str, Any] = {"seq": event.seq, "payload": event.payload}
        if event.step is not None:
            value["step"] = event.step
        if event.span_id is not None:
            value["span_id"] = event.span_id
        return CustomEvent(name=event.type.value, value=to_jsonable(value), timestamp=ts)

    def _close_text(self, span: str, ts: int) -> list[BaseEvent]:
        message_id = self._open_text.pop(span, None)
        if message_id is None:
            return []
        self._streamed.append("".join(self._buffers.pop(message_id, [])))
        return [TextMessageEndEvent(message_id=message_id, timestamp=ts)]

    def _close_all(self, ts: int) -> list[BaseEvent]:
        out: list[BaseEvent] = []
        for span in list(self._open_text):
            out += self._close_text(span, ts)
        while self._open_steps:
            out.append(StepFinishedEvent(step_name=self._open_steps.pop(), timestamp=ts))
        return out

    def _count_usage(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return
        key = (str(payload.get("provider") or ""), str(payload.get("model") or ""))
        counts = self._usage.setdefault(key, [0, 0])
        for i, name in enumerate(("input_tokens", "output_tokens")):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                counts[i] += value

    def _usage_list(self) -> list[dict[str, Any]] | None:
        if not self._usage:
            return None
        return [
            {"provider": provider or None, "model": model or None, "inputTokens": i, "outputTokens": o, "totalTokens": i + o}
            for (provider, model), (i, o) in self._usage.items()
        ]

    def _terminal(self, event: Event, ts: int) -> BaseEvent:
        p = event.payload
        ids = {"thread_id": self.thread_id, "run_id": self.run_id, "timestamp": ts}
        if event.type is EventType.RUN_FAILED:
            error = p.get("error")
            error = error if isinstance(error, dict) else {}
            return RunErrorEvent.model_validate({
                "message": str(error.get("message") or "The run failed."), "code": str(error.get("type") or "RunError"),
                "timestamp": ts, "usage": self._usage_list(),
            })
        if event.type is EventType.RUN_CANCELLED:
            return RunFinishedEvent.model_validate({**ids, "outcome": {"type": "cancelled"}})
        if event.type is EventType.RUN_INTERRUPTED:
            question = p.get("interrupt")
            details = question if isinstance(question, dict) else {"value": question}
            message = details.get("question") or details.get("message") or details.get("prompt")
            interrupt = Interrupt(
                id=interrupt_id(self.source_run_id, event.seq),
                reason=str(details.get("reason") or details.get("type") or "input_required"),
                message=_text(message) if message is not None else None,
                tool_call_id=details["tool_call_id"] if isinstance(details.get("tool_call_id"), str) else None,
                metadata={"interrupt": to_jsonable(question)},
            )
            return RunFinishedEvent.model_validate({**ids, "outcome": {"type": "interrupt", "interrupts": [interrupt]}})
        result = to_jsonable(p.get("final_output"))
        return RunFinishedEvent.model_validate({**ids, "result": result, "usage": self._usage_list()})


_OPENERS = {
    AguiType.RUN_STARTED: ("run", "run_id"),
    AguiType.TEXT_MESSAGE_START: ("text", "message_id"),
    AguiType.TOOL_CALL_START: ("tool", "tool_call_id"),
    AguiType.STEP_STARTED: ("step", "step_name"),
}
_CLOSERS: dict[AguiType, tuple[str, str | None]] = {
    AguiType.RUN_FINISHED: ("run", None),
    AguiType.RUN_ERROR: ("run", None),
    AguiType.TEXT_MESSAGE_END: ("text", "message_id"),
    AguiType.TOOL_CALL_END: ("tool", "tool_call_id"),
    AguiType.STEP_FINISHED: ("step", "step_name"),
}


class ResumeTracker:
    """What an AG-UI client had open (the run, messages, tool calls, steps) at the point where
    its stream was cut, so a resumed stream can open them again before going on: AG-UI's clients
    refuse content for a message they did not see start."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], BaseEvent] = {}
        self.last: BaseEvent | None = None

    def see(self, event: BaseEvent) -> None:
        """Record an event the client already received."""
        self.last = event
        if event.type in _OPENERS:
            kind, attr = _OPENERS[event.type]
            self._open[(kind, str(getattr(event, attr)))] = event
        elif event.type in _CLOSERS:
            kind, name = _CLOSERS[event.type]
            if name is None:
                self._open = {k: v for k, v in self._open.items() if k[0] != kind}
            else:
                self._open.pop((kind, str(getattr(event, name))), None)

    def reopen(self) -> list[BaseEvent]:
        """The start events of everything still open, in the order they were opened."""
        return list(self._open.values())
