"""`OpenTelemetryTraceSink`: one OpenTelemetry span tree per run, built from the run's events.

Every runtime, native or adapter, speaks the same event grammar, so every run gets the same tree,
named and attributed after the OpenTelemetry GenAI semantic conventions::

    invoke_agent {agent_key}                 one root span per run (attempts are span events)
    ├── {step name}                          STEP_STARTED .. STEP_COMPLETED / STEP_FAILED
    │   ├── chat {model}                     LLM_CALL_STARTED .. LLM_CALL_COMPLETED / _FAILED
    │   └── execute_tool {tool name}         TOOL_CALL .. TOOL_RESULT (paired by tool_call_id)
    ├── chat {model}                         calls outside any step hang off the root
    └── execute_tool {tool name}

Spans start and end at the events' timestamps. Attributes: `gen_ai.operation.name`,
`gen_ai.agent.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.provider.name`,
`gen_ai.usage.input_tokens` / `output_tokens`, `gen_ai.response.finish_reasons`,
`gen_ai.tool.name`, `gen_ai.tool.call.id`, and `agent_runtime.run_id` / `agent_runtime.agent_key`
on every span. Failures set the span status to ERROR with `error.type` and an exception event
whose message is redacted.

Decisions worth knowing:

- **Retries.** A run keeps one root span across attempts. RUN_RETRYING ends the failed attempt's
  open spans (status ERROR) and adds an `agent_runtime.run.retrying` event to the root; the
  next RUN_STARTED adds `agent_runtime.run.attempt`. The root's `agent_runtime.run.attempts`
  says how many there were.
- **Resumes.** A run resumed after RUN_INTERRUPTED gets a new root span that links to the one
  that was interrupted.
- **Steps** are children of the root (the flat shape every framework can produce); a
  STEP_STARTED whose payload names an open `parent_step` nests under it instead. LLM calls and
  tool calls nest under the open step named by their event's `step`.
- **Content** (tool arguments and results, assistant messages, the final output) is recorded only
  with `record_content=True` or `AGENT_RUNTIME_TRACE_CONTENT=1`. Whatever is recorded, error
  messages included, goes through the secret redaction first.
- **Memory.** Runs that never end (a worker crashed) are evicted after `run_ttl_seconds` without
  events, or when more than `max_open_runs` are open; their spans are ended with an
  `agent_runtime.abandoned` attribute, so the partial tree is still exported.
- **Cost.** With no TracerProvider configured (the API's default proxy), `trace()` returns at
  once; nothing is built. Spans go to the application's global provider unless one is passed.
- **Context.** A run started inside an active span of the application (a web request) becomes
  its child, so the run shows up inside the request's trace.

Thread-safe: many runs, on one or several event loops, share a sink; each run's spans only ever
hang off that run's root. This module keeps the table of open runs (eviction, resume links); how
each event changes a run's spans is in `_otel_spans`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

# _otel_spans imports opentelemetry, and raises an ImportError naming the extra without it.
from agent_runtime_core.tracing._otel_spans import RunSpans, configured_provider, start_run
from agent_runtime_core.tracing._redact import content_enabled
from agent_runtime_core.tracing.base import TraceSink

if TYPE_CHECKING:
    from opentelemetry.trace import SpanContext, Tracer, TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryTraceSink"]

INSTRUMENTATION_NAME = "agent_runtime_core"
"""The instrumentation scope of the spans."""


class OpenTelemetryTraceSink(TraceSink):
    """Turns run events into OpenTelemetry spans (see the module docstring for the tree).

    Pass it to `AgentRunner(trace_sink=...)`; `default_trace_sink()` includes one when the
    `opentelemetry-api` package is installed, so an application that configures a
    TracerProvider gets run traces without further code.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        record_content: bool | None = None,
        max_open_runs: int = 10_000,
        run_ttl_seconds: float = 3600.0,
    ) -> None:
        """Build a sink.

        Args:
            tracer_provider: Where spans go; default: the application's global provider (read
                at each run's start, so one configured later is picked up).
            record_content: Record tool arguments and results, assistant messages and the
                final output (redacted). Default: the `AGENT_RUNTIME_TRACE_CONTENT` variable.
            max_open_runs: Runs tracked at once; the least recently active is abandoned beyond.
            run_ttl_seconds: A run with no event for this long is abandoned (its spans ended).
        """
        if max_open_runs < 1:
            raise ValueError(f"max_open_runs must be at least 1; got {max_open_runs}.")
        self._provider = tracer_provider
        self._tracer: Tracer | None = None
        self.record_content = content_enabled(record_content)
        """Whether content is recorded (redacted)."""
        self.max_open_runs = max_open_runs
        self.run_ttl_seconds = run_ttl_seconds
        self._runs: OrderedDict[str, RunSpans] = OrderedDict()
        self._ended: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()
        self._events_since_sweep = 0

    def __repr__(self) -> str:
        provider = type(self._provider).__name__ if self._provider is not None else "global"
        return (
            f"{type(self).__name__}(tracer_provider={provider}, record_content={self.record_content}, "
            f"open_runs={len(self._runs)})"
        )

    @property
    def open_runs(self) -> int:
        """Runs with a root span still open."""
        with self._lock:
            return len(self._runs)

    # -- the hook ------------------------------------------------------------------------------

    async def trace(self, event: dict[str, Any]) -> None:
        """Update the run's span tree with one event (no I/O: spans go to the provider's
        processors, which export off the hot path)."""
        self.handle(event)

    def handle(self, event: dict[str, Any]) -> None:
        """`trace`, callable without an event loop."""
        run_id = event.get("run_id")
        kind = event.get("type")
        if not isinstance(run_id, str) or not isinstance(kind, str):
            return
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                tracer = self._get_tracer()
                if tracer is None:
                    return  # no TracerProvider configured: nothing to record
                run = self._start_run(tracer, run_id, event)
            else:
                self._runs.move_to_end(run_id)
                run.last_seen = time.monotonic()
            run.apply(event, record_content=self.record_content)
            if run.status is not None:
                self._ended_run(run_id, run)
            self._events_since_sweep += 1
            if self._events_since_sweep >= 256:
                self._sweep()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _get_tracer(self) -> Tracer | None:
        provider = configured_provider(self._provider)
        if provider is None:
            return None
        if self._provider is None:
            return provider.get_tracer(INSTRUMENTATION_NAME)  # the global may change: cheap
        if self._tracer is None:
            self._tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        return self._tracer

    def _start_run(self, tracer: Tracer, run_id: str, event: dict[str, Any]) -> RunSpans:
        run = start_run(tracer, run_id, event, resumed_from=self._ended.pop(run_id, None))
        self._runs[run_id] = run
        if len(self._runs) > self.max_open_runs:
            _, oldest = self._runs.popitem(last=False)
            oldest.abandon("max_open_runs")
        return run

    def _sweep(self) -> None:
        self._events_since_sweep = 0
        deadline = time.monotonic() - self.run_ttl_seconds
        while self._runs:
            run_id, run = next(iter(self._runs.items()))
            if run.last_seen > deadline:
                break
            del self._runs[run_id]
            run.abandon("ttl")

    def _ended_run(self, run_id: str, run: RunSpans) -> None:
        """Forget a run whose root span ended; keep an interrupted one's root to link a resume."""
        del self._runs[run_id]
        if run.status == "interrupted":
            self._ended[run_id] = run.root.get_span_context()
            while len(self._ended) > self.max_open_runs:
                self._ended.popitem(last=False)
