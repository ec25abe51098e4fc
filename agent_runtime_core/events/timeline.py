"""Renders a run's events as a readable timeline (used by the CLI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .base import Event, EventType

__all__ = ["format_event", "format_timeline"]


def _short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _details(event: Event) -> str:
    p = event.payload
    t = event.type
    if t is EventType.RUN_STARTED:
        return f"agent={p.get('agent_key')} attempt={p.get('attempt')}"
    if t is EventType.RUN_RETRYING:
        return f"attempt {p.get('attempt')} failed: {_short((p.get('error') or {}).get('message', ''))} (retry in {p.get('delay_seconds')}s)"
    if t is EventType.RUN_SUCCEEDED:
        return _short(p.get("final_output"))
    if t is EventType.RUN_FAILED:
        error = p.get("error") or {}
        return f"{error.get('type')}: {_short(error.get('message', ''))}"
    if t in (EventType.RUN_CANCELLED,):
        return _short(p.get("reason", ""))
    if t is EventType.RUN_INTERRUPTED:
        return _short(p.get("interrupt"))
    if t in (EventType.LLM_CALL_STARTED,):
        return f"model={p.get('model')}"
    if t is EventType.LLM_CALL_COMPLETED:
        usage = p.get("usage") or {}
        return f"model={p.get('model')} tokens in={usage.get('input_tokens')} out={usage.get('output_tokens')}"
    if t is EventType.LLM_CALL_FAILED:
        return f"model={p.get('model')} {_short((p.get('error') or {}).get('message', ''))}"
    if t is EventType.TOOL_CALL:
        return f"{p.get('name')}({_short(p.get('arguments'), 50)})"
    if t is EventType.TOOL_RESULT:
        if "error" in p:
            return f"{p.get('name')} ✗ {_short(p.get('error'))}"
        return f"{p.get('name')} → {_short(p.get('result'))}"
    if t in (EventType.ASSISTANT_MESSAGE,):
        return _short(p.get("content", ""))
    if t is EventType.ASSISTANT_DELTA:
        return _short(p.get("text", ""))
    if t is EventType.PROGRESS_UPDATE:
        return f"{p.get('percent')}%"
    if t is EventType.CHECKPOINT:
        return f"id={str(p.get('checkpoint_id', ''))[:8]}"
    if t is EventType.CUSTOM:
        return f"{p.get('name')} {_short(p.get('data'), 50)}"
    if t.name.startswith("STEP_"):
        extra = f" {_short((p.get('error') or {}).get('message', ''))}" if "error" in p else ""
        return f"{p.get('name')} ({p.get('kind', 'step')}){extra}"
    return _short(p)


def format_event(event: Event, t0: float) -> str:
    """One line: seq, time since `t0`, event type, details."""
    elapsed = f"+{event.timestamp - t0:.3f}s"
    return f"{event.seq:>4}  {elapsed:>9}  {event.type.value:<20}  {_details(event)}"


def format_timeline(events: Sequence[Event]) -> str:
    """All events of a run, one per line, with a header."""
    if not events:
        return "(no events)"
    t0 = events[0].timestamp
    lines = [f"{'seq':>4}  {'time':>9}  {'event':<20}  details"]
    lines += [format_event(e, t0) for e in events]
    return "\n".join(lines)
