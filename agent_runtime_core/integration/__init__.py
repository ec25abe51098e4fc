"""The translation kit adapters are built on: callbacks in, one run's events out.

An adapter wraps a framework's agent as an `AgentRuntime`. In its `run(ctx)` it builds one
`RunRecorder(ctx)` and reports what the framework tells it (`step_started`, `llm_call_started`,
`llm_delta`, `llm_call_completed`, `tool_call`, `tool_result`, `custom`, ...); the recorder emits
the events of the grammar (`agent_runtime_core.events.grammar`, docs/events.md) and owns everything
that is the same for every framework:

- the open/close bookkeeping: steps, model calls and tool calls paired by id, nested in steps,
  each closed exactly once, and everything open closed by `failed()` (a failure or a cancel) and
  `finished()` / `interrupted()`;
- the payload shapes: one error shape (`ErrorInfo`), usage from any framework's usage object,
  message text from any framework's message or content parts, tool arguments and results;
- usage totals (`RunRecorder.usage`);
- the route out: `RunContext.emit`, where payloads are redacted and trace spans follow from the
  events.

The value helpers (`message_text`, `to_jsonable`, `usage_of`, `result_text`, `error_info`) are
exported too, for the framework-facing part of an adapter. `get_logger(name)` gives an adapter a
logger whose records are redacted. `redact(text)` and `may_hold_secret(text)` are for what an
adapter stores in a form the store's redaction cannot read (a framework's serialized bytes). docs/adapters.md shows a whole adapter.
"""

from __future__ import annotations

from .._redaction import get_logger
from .._secrets import may_hold_secret, redact
from ..events import tool_arguments
from ._recorder import INNERMOST, RunRecorder, StepRef, Usage
from ._values import error_info, error_text, message_text, result_text, to_jsonable, usage_of

__all__ = [
    "INNERMOST",
    "RunRecorder",
    "StepRef",
    "Usage",
    "error_info",
    "error_text",
    "get_logger",
    "may_hold_secret",
    "message_text",
    "redact",
    "result_text",
    "to_jsonable",
    "tool_arguments",
    "usage_of",
]
