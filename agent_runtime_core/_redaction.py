"""The one redaction boundary: what leaves a run is redacted there, whoever built it.

- events: `RunContext.emit` passes every payload through `EventRedactor` (streamed deltas are
  held back per model call, by the rule of `_secrets.hold_from`, so a secret split across two
  deltas is caught too); trace spans are made from these events;
- checkpoints and every other stored value: `state.base.dumps`, the serializer of every state
  store, vets the JSON it wrote and redacts the value when the JSON may hold a secret;
- results: the engine redacts a `RunResult` before it records or returns it (`redact_result`);
- error texts: `ErrorInfo` and `AgentRuntimeError` redact their messages when built;
- log records of ours: every logger of the core and the adapters comes from `get_logger`, whose
  filter redacts the message, its arguments and the formatted traceback.

"Secrets" are the configured ones (API keys of `configure()` or the environment, by value, of any
shape), every value given to `_secrets.register_secret`, and the key-shaped patterns.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import _secrets
from .events.base import TERMINAL_EVENT_TYPES, EventType

if TYPE_CHECKING:
    from .agent import RunResult

__all__ = ["EventRedactor", "get_logger", "redact_result", "refresh_configured_secrets"]


def refresh_configured_secrets() -> None:
    """Register the secrets of the current configuration (also those only in the environment):
    `get_config()` registers them when it builds a configuration, and is cheap when nothing
    changed. A configuration error is not this function's to report (the code that reads the
    setting reports it)."""
    from .config import get_config

    try:
        get_config()
    except Exception:  # noqa: S110 - reported where the setting is used
        pass


_FLUSHING = frozenset({*TERMINAL_EVENT_TYPES, EventType.RUN_RETRYING})
_DELTA = EventType.ASSISTANT_DELTA


_Held = list[tuple[str | None, str | None, str]]
_NOTHING_HELD: _Held = []  # shared, never changed: the common answer costs no allocation


class EventRedactor:
    """Redacts the payloads of one run's events (`RunContext` holds one)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str | None, tuple[str, str | None]] = {}  # span -> (held text, step)

    def payload(
        self, event_type: EventType, payload: dict[str, Any], span_id: str | None, step: str | None
    ) -> tuple[dict[str, Any], _Held]:
        """The payload to publish, and the held-back delta texts to publish before it, as
        (span_id, step, text).

        A delta's text is shown up to a tail that could begin a secret the next delta completes
        (`_secrets.hold_from`); that tail is held and put before the next delta of the same
        `span_id` (one model call), or published as a delta of its own before that span's next
        other event, or before a terminal or retry event (all spans)."""
        held = self._held
        if event_type is _DELTA:
            text = payload.get("text")
            if type(text) is str:
                previous = held.pop(span_id, None)
                whole = previous[0] + text if previous is not None else text
                cut = _secrets.hold_from(whole)
                shown = whole
                if cut < len(whole):
                    held[span_id] = (whole[cut:], step)
                    shown = whole[:cut]
                if _secrets.may_hold_secret(shown):
                    shown = _secrets.redact(shown)
                if shown is not text:
                    payload = {**payload, "text": shown}
                if len(payload) == 1:
                    return payload, _NOTHING_HELD
            return _secrets.redact_value(payload), _NOTHING_HELD
        if not held:
            return _secrets.redact_value(payload), _NOTHING_HELD
        keys = list(held) if event_type in _FLUSHING else [span_id] if span_id in held else []
        before: _Held = []
        for key in keys:
            text, held_step = held.pop(key)
            before.append((key, held_step, _secrets.redact(text)))
        return _secrets.redact_value(payload), before


def redact_result(result: RunResult) -> RunResult:
    """Redact what a result carries (final output, messages, interrupt, error), in place."""
    result.final_output = _secrets.redact_value(result.final_output)
    if result.final_messages is not None:
        result.final_messages = _secrets.redact_value(result.final_messages)
    if result.interrupt is not None:
        result.interrupt = _secrets.redact_value(result.interrupt)
    error = result.error
    if error is not None:
        error.message = _secrets.redact(error.message)
        if error.traceback:
            error.traceback = _secrets.redact(error.traceback)
        error.details = _secrets.redact_value(error.details)
    return result


class _RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it; mask the template anyway
            if isinstance(record.msg, str):
                record.msg = _secrets.redact(record.msg)
            return True
        if _secrets.may_hold_secret(message):
            record.msg, record.args = _secrets.redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            if _secrets.may_hold_secret(text):
                record.exc_text, record.exc_info = _secrets.redact(text), None
        elif record.exc_text and _secrets.may_hold_secret(record.exc_text):
            record.exc_text = _secrets.redact(record.exc_text)
        if record.stack_info and _secrets.may_hold_secret(record.stack_info):
            record.stack_info = _secrets.redact(record.stack_info)
        return True


_FILTER = _RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """`logging.getLogger(name)` with the redacting filter: what it logs is redacted before any
    handler sees it. Every logger of the core and the adapters is made here (a filter applies to
    the records of its own logger only, not to those of its children)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
