"""`POST /agui/{agent_key}`: AG-UI's `RunAgentInput` in, AG-UI events out as SSE.

- A new `runId` starts a run of the agent (through the same runner as `POST /runs`); its
  conversation is the input's messages, turned into OpenAI-style message dicts.
- A `runId` this key already used joins that run instead of starting another: the stream replays
  from the start, or resumes after the `Last-Event-ID` the client got last (ids are
  `<seq>:<index>`), re-opening what was open (RUN_STARTED, messages, tool calls, steps) so the
  client's checks pass. A client that disconnects never stops the run.
- `resume` entries answer an interrupt (its id names the interrupted run): the run continues
  with the answer, and the stream shows its events after the interrupt under the new `runId`.

`runId`s are per API key: the run behind one is `agui-` + a UUID derived from the key's owner id
and the `runId`, so two keys can never reach each other's runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from ag_ui.core import BaseEvent, RunAgentInput, RunStartedEvent
from ag_ui.core.events import EventType as AguiType
from pydantic import ValidationError
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import AgentRunner
from ._agui import AguiMapper, ResumeTracker, parse_interrupt_id
from ._http import Problem, parse_count, read_json
from ._routes import ServerState, owner_of
from ._runs import RunRecord
from ._sse import MAX_SEQ, message, sse_response

__all__ = ["agui_routes"]

_NAMESPACE = uuid.UUID("8f6f7c1e-3b7a-4f0e-9d59-2a61f0a0c6d1")


def agui_run_id(owner: str, run_id: str) -> str:
    """The run behind AG-UI `run_id` for `owner`."""
    return "agui-" + str(uuid.uuid5(_NAMESPACE, f"{owner}\0{run_id}"))


def _resume_point(request: Request) -> tuple[int, int] | None:
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return None
    seq_text, sep, index_text = raw.partition(":")
    seq, index = parse_count(seq_text), parse_count(index_text)
    if not sep or seq is None or index is None or seq > MAX_SEQ:
        raise Problem(422, "invalid_resume_point", f"`Last-Event-ID` must be the `id` of an AG-UI event received, like '12:0'; got {raw[:40]!r}.")
    return seq, index


def _validation_message(error: ValidationError) -> str:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()[:3]]
    more = f" (and {error.error_count() - 3} more)" if error.error_count() > 3 else ""
    return "The body is not an AG-UI RunAgentInput: " + "; ".join(problems) + more + "."


def _text_of(content: Any) -> Any:
    if isinstance(content, list):  # content parts: the text ones, joined
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text")
    return content


def run_input(agui: RunAgentInput) -> dict[str, Any]:
    """The run's input from AG-UI's: its messages as OpenAI-style dicts (activity and reasoning
    messages left out), plus its `state` and `context` when it has them."""
    messages: list[dict[str, Any]] = []
    for item in agui.messages:
        data = item.model_dump(by_alias=False, exclude_none=True)
        role = data.get("role")
        if role not in ("user", "assistant", "system", "developer", "tool"):
            continue
        out: dict[str, Any] = {"role": role, "content": _text_of(data.get("content", ""))}
        if data.get("name"):
            out["name"] = data["name"]
        if role == "assistant" and data.get("tool_calls"):
            out["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in data["tool_calls"]
            ]
        if role == "tool":
            out["tool_call_id"] = data.get("tool_call_id")
        messages.append(out)
    result: dict[str, Any] = {"messages": messages}
    if agui.state is not None:
        result["state"] = agui.state
    if agui.context:
        result["context"] = [c.model_dump() for c in agui.context]
    return result


def _encode(event: BaseEvent) -> str:
    return event.model_dump_json(by_alias=True, exclude_none=True)


async def agui_stream(
    runner: AgentRunner, record: RunRecord, thread_id: str, run_id: str, resume_point: tuple[int, int] | None
) -> AsyncIterator[ServerSentEvent]:
    """The AG-UI events of `record`'s run, from the start or after `resume_point`."""
    mapper = AguiMapper(thread_id, run_id, record.events_run_id)
    tracker = ResumeTracker()
    replaying = resume_point is not None
    sent = False
    async for event in runner.events(record.events_run_id, record.after, follow=True):
        for index, out in enumerate(mapper.feed(event)):
            if replaying:
                assert resume_point is not None
                if (event.seq, index) <= resume_point:
                    tracker.see(out)
                    continue
                replaying = False
                for again in tracker.reopen():  # no id: the client's last id stays the resume point
                    yield message(_encode(again))
            sent = True
            yield message(_encode(out), id=f"{event.seq}:{index}")
        if mapper.finished:
            break
    last = tracker.last
    if not sent and last is not None and last.type in (AguiType.RUN_FINISHED, AguiType.RUN_ERROR):
        # Resumed after the end: the client gets the run's end again, framed as AG-UI requires.
        yield message(_encode(RunStartedEvent(thread_id=thread_id, run_id=run_id)))
        yield message(_encode(last))


async def _continue_interrupted(state: ServerState, owner: str, agui: RunAgentInput, run_id: str) -> RunRecord:
    assert agui.resume
    entry = agui.resume[0]
    parsed = parse_interrupt_id(entry.interrupt_id)
    source = await state.runs.lookup(owner, parsed[0]) if parsed else None
    if parsed is None or source is None:
        raise Problem(404, "interrupt_not_found", f"No interrupt {entry.interrupt_id!r} visible to this API key.")
    last = await state.runs.last_event(source.run_id)
    if last is None or last.seq != parsed[1] or not last.is_terminal or last.type.value != "run.interrupted":
        raise Problem(409, "not_interrupted", f"Interrupt {entry.interrupt_id!r} is not pending (already answered, or the run moved on).")
    answer = entry.payload if entry.status == "resolved" else {"cancelled": True, "payload": entry.payload}
    # Resume first: when it is refused (answer too large, already resuming, agent not here) no
    # alias may stay behind, or a retry with this runId would replay old events and never resume.
    await state.runs.resume(source, answer)
    return await state.runs.alias(owner, run_id, source, parsed[1], agui.thread_id)


async def agui_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.serve
    owner = owner_of(request)
    agent_key = state.runs.check_agent(request.path_params["agent_key"])
    body = await read_json(request, state.max_body_bytes)
    try:
        agui = RunAgentInput.model_validate(body)
    except ValidationError as e:
        raise Problem(422, "invalid_run_agent_input", _validation_message(e)) from None
    resume_point = _resume_point(request)
    internal = agui_run_id(owner, agui.run_id)
    record = await state.runs.lookup(owner, internal)
    if record is not None and record.agent_key != agent_key:
        raise Problem(409, "run_id_taken", f"runId {agui.run_id!r} is a run of agent {record.agent_key!r}; use a new runId.")
    if record is None:
        if agui.resume:
            record = await _continue_interrupted(state, owner, agui, internal)
        else:
            metadata = {"agui": {"thread_id": agui.thread_id, "run_id": agui.run_id}}
            record = await state.runs.start(owner, agent_key, run_input(agui), metadata, run_id=internal, thread_id=agui.thread_id)
    stream = agui_stream(state.runs.runner, record, agui.thread_id, agui.run_id, resume_point)
    return sse_response(stream, state.keepalive_seconds)


def agui_routes() -> list[Route]:
    """`POST /agui/{agent_key}`."""
    return [Route("/agui/{agent_key}", agui_endpoint, methods=["POST"])]
