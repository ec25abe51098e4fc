"""Server-sent events: a run's events as `id: <seq>` / `event: <type>` / `data: <json>` messages,
replayed from where the client left off (`Last-Event-ID` or `?after=`) and then live, with
keep-alive comments on idle streams, ending after the run's terminal event.

The framing, keep-alives and disconnect detection are sse-starlette's; a client that goes away
only ends its own stream, never the run.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from .. import AgentRunner
from ..events import Event
from ._http import Problem, parse_count

__all__ = ["MAX_SEQ", "EncodedEvents", "event_json", "grammar_stream", "message", "parse_after", "sse_response"]

MAX_SEQ = 10**15
"""Largest sequence number a client may ask to resume after."""

RETRY_MS = 1000
"""How long an `EventSource` waits before reconnecting (sent once, on the first message)."""


def message(data: str, *, id: str | None = None, event: str | None = None, retry: int | None = None) -> ServerSentEvent:
    """One SSE message, lines ending in `\n` (AG-UI's client splits messages on `\n\n` only)."""
    return ServerSentEvent(data, id=id, event=event, retry=retry, sep="\n")


def parse_after(request: Request) -> int:
    """Where a client resumes: the `Last-Event-ID` header (what `EventSource` sends when it
    reconnects) or else `?after=<seq>`; 0 for the start. 422 when it is not a sequence number."""
    raw = request.headers.get("last-event-id")
    source = "Last-Event-ID"
    if raw is None or not raw.strip():
        raw, source = request.query_params.get("after"), "after"
    if raw is None or not raw.strip():
        return 0
    raw = raw.strip()
    after = parse_count(raw)
    if after is None or after > MAX_SEQ:
        raise Problem(422, "invalid_resume_point", f"`{source}` must be the `id` of an event received (an integer >= 0); got {raw[:40]!r}.")
    return after


def event_json(event: Event) -> str:
    """One event as the JSON of its `to_dict()` (values that are not JSON shown as text)."""
    return json.dumps(event.to_dict(), ensure_ascii=False, default=str, separators=(",", ":"))


class EncodedEvents:
    """The JSON of recent events, by (run, seq), so a run followed by many clients has each event
    encoded once (a run's events never change once stored)."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._cache: OrderedDict[tuple[str, int], str] = OrderedDict()

    def json(self, event: Event) -> str:
        key = (event.run_id, event.seq)
        text = self._cache.get(key)
        if text is None:
            text = self._cache[key] = event_json(event)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return text


async def grammar_stream(
    runner: AgentRunner, run_id: str, after: int, encoded: EncodedEvents
) -> AsyncIterator[ServerSentEvent]:
    """The run's events after `after`, as SSE messages, until its terminal event."""
    first = True
    async for event in runner.events(run_id, after, follow=True):
        yield message(encoded.json(event), id=str(event.seq), event=event.type.value, retry=RETRY_MS if first else None)
        first = False


def sse_response(stream: AsyncIterator[Any], keepalive_seconds: float) -> EventSourceResponse:
    """An `text/event-stream` response of `stream`, with a keep-alive comment every
    `keepalive_seconds` of silence and no buffering by proxies."""
    return EventSourceResponse(
        stream,
        ping=keepalive_seconds,
        sep="\n",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
