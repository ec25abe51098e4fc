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
hang off that run's root.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_runtime_core.tracing._redact import content_enabled, redacted_text
from agent_runtime_core.tracing.base import TraceSink

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError as _import_error:
    raise ImportError(
        "OpenTelemetryTraceSink requires the 'opentelemetry-api' package. "
        "Install it with: pip install 'agent-runtime-core[otel]'"
    ) from _import_error

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanContext, Tracer, TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryTraceSink"]

INSTRUMENTATION_NAME = "agent_runtime_core"
"""The instrumentation scope of the spans."""

_OTHER = "_OTHER"


@dataclass
class _Run:
    """The open spans of one run."""

    root: Span
    tracer: Tracer
    agent_key: str
    attempts: int = 1
    last_seen: float = field(default_factory=time.monotonic)
    steps: dict[str, list[Span]] = field(default_factory=dict)
    """Open step spans by step name (a list: a name may be open twice, e.g. a loop)."""
    llm_by_id: dict[str, Span] = field(default_factory=dict)
    """Open chat spans by the event's span_id."""
    llm_by_step: dict[str | None, list[Span]] = field(default_factory=dict)
    """Open chat spans without span_id, by step (FIFO)."""
    tools: dict[str, Span] = field(default_factory=dict)
    """Open tool spans by tool_call_id."""

    def open_children(self) -> list[Span]:
        spans: list[Span] = [*self.llm_by_id.values(), *self.tools.values()]
        for pending in self.llm_by_step.values():
            spans.extend(pending)
        for stack in self.steps.values():
            spans.extend(reversed(stack))
        return spans

    def clear_children(self) -> None:
        self.steps.clear()
        self.llm_by_id.clear()
        self.llm_by_step.clear()
        self.tools.clear()


def _ns(event: dict[str, Any]) -> int:
    timestamp = event.get("timestamp")
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return int(timestamp * 1_000_000_000)
    return time.time_ns()


def _error_parts(error: Any) -> tuple[str, str]:
    """(type, redacted message) of an event's `error` (an ErrorInfo dict or a string)."""
    if isinstance(error, dict):
        kind = str(error.get("type") or "Error")
        message = str(error.get("message") or "")
    else:
        kind, message = "Error", str(error or "")
    return kind, redacted_text(message, 2048)


def _set_error(span: Span, error: Any, when: int) -> None:
    kind, message = _error_parts(error)
    span.set_attribute("error.type", kind)
    span.add_event(
        "exception",
        {"exception.type": kind, "exception.message": message},
        timestamp=when,
    )
    span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}" if message else kind))


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
        self._runs: OrderedDict[str, _Run] = OrderedDict()
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
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, run, run_id, event)
            self._events_since_sweep += 1
            if self._events_since_sweep >= 256:
                self._sweep()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _get_tracer(self) -> Tracer | None:
        provider = self._provider if self._provider is not None else trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None
        if self._provider is None:
            return provider.get_tracer(INSTRUMENTATION_NAME)  # the global may change: cheap
        if self._tracer is None:
            self._tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        return self._tracer

    def _start_run(self, tracer: Tracer, run_id: str, event: dict[str, Any]) -> _Run:
        payload = event.get("payload") or {}
        agent_key = (
            str(payload.get("agent_key") or "") if event.get("type") == "run.started" else ""
        )
        name = f"invoke_agent {agent_key}" if agent_key else "invoke_agent"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "agent_runtime.run_id": run_id,
        }
        if agent_key:
            attributes["gen_ai.agent.name"] = agent_key
            attributes["agent_runtime.agent_key"] = agent_key
        if event.get("type") != "run.started":
            attributes["agent_runtime.partial"] = True  # the sink joined a run already under way
        links = []
        previous = self._ended.pop(run_id, None)
        if previous is not None:
            links.append(Link(previous, {"agent_runtime.link": "resumed_from"}))
            attributes["agent_runtime.resumed"] = True
        parent = otel_context.get_current()
        root = tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            start_time=_ns(event),
        )
        run = _Run(root=root, tracer=tracer, agent_key=agent_key)
        self._runs[run_id] = run
        if len(self._runs) > self.max_open_runs:
            oldest_id, oldest = self._runs.popitem(last=False)
            self._abandon(oldest_id, oldest, "max_open_runs")
        return run

    def _sweep(self) -> None:
        self._events_since_sweep = 0
        deadline = time.monotonic() - self.run_ttl_seconds
        while self._runs:
            run_id, run = next(iter(self._runs.items()))
            if run.last_seen > deadline:
                break
            del self._runs[run_id]
            self._abandon(run_id, run, "ttl")

    def _abandon(self, run_id: str, run: _Run, reason: str) -> None:
        now = time.time_ns()
        for span in run.open_children():
            span.set_attribute("agent_runtime.abandoned", True)
            span.end(end_time=now)
        run.root.set_attribute("agent_runtime.abandoned", reason)
        run.root.set_attribute("agent_runtime.run.attempts", run.attempts)
        run.root.end(end_time=now)

    def _finish(self, run_id: str, run: _Run, event: dict[str, Any], status: str) -> None:
        when = _ns(event)
        for span in run.open_children():
            span.set_attribute("agent_runtime.ended_by", str(event.get("type")))
            span.end(end_time=when)
        run.clear_children()
        run.root.set_attribute("agent_runtime.run.status", status)
        run.root.set_attribute("agent_runtime.run.attempts", run.attempts)
        run.root.end(end_time=when)
        del self._runs[run_id]
        if status == "interrupted":
            self._ended[run_id] = run.root.get_span_context()
            while len(self._ended) > self.max_open_runs:
                self._ended.popitem(last=False)

    def _parent(self, run: _Run, step: Any) -> Span:
        if isinstance(step, str):
            stack = run.steps.get(step)
            if stack:
                return stack[-1]
        return run.root

    def _child(
        self,
        run: _Run,
        run_id: str,
        parent: Span,
        name: str,
        when: int,
        attributes: dict[str, Any],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        attributes["agent_runtime.run_id"] = run_id
        if run.agent_key:
            attributes["agent_runtime.agent_key"] = run.agent_key
        return run.tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            kind=kind,
            attributes=attributes,
            start_time=when,
        )

    # -- event handlers ------------------------------------------------------------------------

    def _on_run_started(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        attempt = payload.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            run.attempts = max(run.attempts, attempt)
            run.root.add_event(
                "agent_runtime.run.attempt", {"attempt": attempt}, timestamp=_ns(event)
            )

    def _on_run_retrying(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        when = _ns(event)
        for span in run.open_children():
            _set_error(span, payload.get("error"), when)
            span.end(end_time=when)
        run.clear_children()
        kind, message = _error_parts(payload.get("error"))
        run.root.add_event(
            "agent_runtime.run.retrying",
            {
                "attempt": int(payload.get("attempt") or run.attempts),
                "error.type": kind,
                "exception.message": message,
                "delay_seconds": float(payload.get("delay_seconds") or 0.0),
            },
            timestamp=when,
        )

    def _on_succeeded(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        if self.record_content:
            output = (event.get("payload") or {}).get("final_output")
            if output is not None:
                run.root.set_attribute("agent_runtime.final_output", redacted_text(output))
        self._finish(run_id, run, event, "succeeded")

    def _on_failed(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        _set_error(run.root, (event.get("payload") or {}).get("error"), _ns(event))
        self._finish(run_id, run, event, "failed")

    def _on_cancelled(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        reason = (event.get("payload") or {}).get("reason")
        if reason:
            run.root.set_attribute("agent_runtime.cancel_reason", redacted_text(reason, 512))
        self._finish(run_id, run, event, "cancelled")

    def _on_interrupted(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        self._finish(run_id, run, event, "interrupted")

    def _on_step_started(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        name = str(payload.get("name") or event.get("step") or "step")
        step_kind = str(payload.get("kind") or "step")
        parent = run.root
        parent_step = payload.get("parent_step")
        if isinstance(parent_step, str) and parent_step != name:
            parent = self._parent(run, parent_step)
        span = self._child(
            run,
            run_id,
            parent,
            name,
            _ns(event),
            {"agent_runtime.step.name": name, "agent_runtime.step.kind": step_kind},
        )
        run.steps.setdefault(name, []).append(span)

    def _pop_step(self, run: _Run, event: dict[str, Any]) -> Span | None:
        payload = event.get("payload") or {}
        name = payload.get("name") or event.get("step")
        stack = run.steps.get(name) if isinstance(name, str) else None
        if not stack:
            return None
        span = stack.pop()
        if not stack:
            del run.steps[name]  # type: ignore[arg-type]
        return span

    def _on_step_completed(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        span = self._pop_step(run, event)
        if span is not None:
            span.end(end_time=_ns(event))

    def _on_step_failed(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        span = self._pop_step(run, event)
        if span is not None:
            when = _ns(event)
            _set_error(span, (event.get("payload") or {}).get("error"), when)
            span.end(end_time=when)

    def _on_step_retrying(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        name = payload.get("name") or event.get("step")
        stack = run.steps.get(name) if isinstance(name, str) else None
        if stack:
            kind, message = _error_parts(payload.get("error"))
            stack[-1].add_event(
                "agent_runtime.step.retrying",
                {
                    "attempt": int(payload.get("attempt") or 0),
                    "error.type": kind,
                    "exception.message": message,
                },
                timestamp=_ns(event),
            )

    def _on_step_skipped(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        name = str(payload.get("name") or event.get("step") or "step")
        when = _ns(event)
        span = self._child(
            run,
            run_id,
            run.root,
            name,
            when,
            {
                "agent_runtime.step.name": name,
                "agent_runtime.step.kind": str(payload.get("kind") or "step"),
                "agent_runtime.step.skipped": True,
            },
        )
        span.end(end_time=when)

    def _on_llm_started(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        model = str(payload.get("model") or "")
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if model:
            attributes["gen_ai.request.model"] = model
        provider = payload.get("provider")
        if isinstance(provider, str) and provider:
            attributes["gen_ai.provider.name"] = provider
            attributes["gen_ai.system"] = provider  # the attribute's name before semconv 1.37
        step = event.get("step")
        span = self._child(
            run,
            run_id,
            self._parent(run, step),
            f"chat {model}" if model else "chat",
            _ns(event),
            attributes,
            SpanKind.CLIENT,
        )
        span_id = event.get("span_id")
        if isinstance(span_id, str) and span_id:
            run.llm_by_id[span_id] = span
        else:
            run.llm_by_step.setdefault(step if isinstance(step, str) else None, []).append(span)

    def _pop_llm(self, run: _Run, event: dict[str, Any]) -> Span | None:
        span_id = event.get("span_id")
        if isinstance(span_id, str) and span_id in run.llm_by_id:
            return run.llm_by_id.pop(span_id)
        step = event.get("step")
        key = step if isinstance(step, str) else None
        pending = run.llm_by_step.get(key)
        if not pending:  # the step tag may differ between start and end: take any open call
            key = next((k for k, v in run.llm_by_step.items() if v), None)
            pending = run.llm_by_step.get(key)
            if not pending:
                return None
        span = pending.pop(0)
        if not pending:
            del run.llm_by_step[key]
        return span

    def _on_llm_completed(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        span = self._pop_llm(run, event)
        if span is None:
            return
        payload = event.get("payload") or {}
        model = payload.get("model")
        if isinstance(model, str) and model:
            span.set_attribute("gen_ai.response.model", model)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            for key in ("input_tokens", "output_tokens"):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    span.set_attribute(f"gen_ai.usage.{key}", value)
        finish_reason = payload.get("finish_reason")
        if isinstance(finish_reason, str) and finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        span.end(end_time=_ns(event))

    def _on_llm_failed(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        span = self._pop_llm(run, event)
        if span is None:
            return
        when = _ns(event)
        _set_error(span, (event.get("payload") or {}).get("error"), when)
        span.end(end_time=when)

    def _on_tool_call(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        name = str(payload.get("name") or "")
        call_id = str(payload.get("tool_call_id") or "")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name or _OTHER,
            "gen_ai.tool.type": "function",
        }
        if call_id:
            attributes["gen_ai.tool.call.id"] = call_id
        if self.record_content and "arguments" in payload:
            attributes["gen_ai.tool.call.arguments"] = redacted_text(payload["arguments"])
        span = self._child(
            run,
            run_id,
            self._parent(run, event.get("step")),
            f"execute_tool {name}" if name else "execute_tool",
            _ns(event),
            attributes,
        )
        key = call_id or f"{name}#{event.get('seq')}"
        previous = run.tools.pop(key, None)
        if previous is not None:  # the same id twice: end the first rather than leak it
            previous.end(end_time=_ns(event))
        run.tools[key] = span

    def _on_tool_result(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        call_id = str(payload.get("tool_call_id") or "")
        span = run.tools.pop(call_id, None) if call_id else None
        if span is None:
            name = str(payload.get("name") or "")
            key = next((k for k in run.tools if k.startswith(f"{name}#")), None)
            span = run.tools.pop(key, None) if key is not None else None
            if span is None:
                return
        when = _ns(event)
        if "error" in payload and payload["error"] is not None:
            _set_error(span, {"type": "ToolError", "message": payload["error"]}, when)
        elif self.record_content and "result" in payload:
            span.set_attribute("gen_ai.tool.call.result", redacted_text(payload["result"]))
        span.end(end_time=when)

    def _on_assistant_message(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        if not self.record_content:
            return
        content = (event.get("payload") or {}).get("content")
        if content is None:
            return
        self._parent(run, event.get("step")).add_event(
            "gen_ai.assistant.message",
            {"gen_ai.message.role": "assistant", "content": redacted_text(content)},
            timestamp=_ns(event),
        )

    def _on_checkpoint(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        checkpoint_id = (event.get("payload") or {}).get("checkpoint_id")
        self._parent(run, event.get("step")).add_event(
            "agent_runtime.checkpoint",
            {"checkpoint_id": str(checkpoint_id or "")},
            timestamp=_ns(event),
        )

    def _on_custom(self, run: _Run, run_id: str, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        attributes = {"agent_runtime.custom.name": str(payload.get("name") or "")}
        if self.record_content and "data" in payload:
            attributes["agent_runtime.custom.data"] = redacted_text(payload["data"])
        self._parent(run, event.get("step")).add_event("agent_runtime.custom", attributes, timestamp=_ns(event))


_HANDLERS = {
    "run.started": OpenTelemetryTraceSink._on_run_started,
    "run.retrying": OpenTelemetryTraceSink._on_run_retrying,
    "run.succeeded": OpenTelemetryTraceSink._on_succeeded,
    "run.failed": OpenTelemetryTraceSink._on_failed,
    "run.cancelled": OpenTelemetryTraceSink._on_cancelled,
    "run.interrupted": OpenTelemetryTraceSink._on_interrupted,
    "step.started": OpenTelemetryTraceSink._on_step_started,
    "step.completed": OpenTelemetryTraceSink._on_step_completed,
    "step.failed": OpenTelemetryTraceSink._on_step_failed,
    "step.retrying": OpenTelemetryTraceSink._on_step_retrying,
    "step.skipped": OpenTelemetryTraceSink._on_step_skipped,
    "llm.call.started": OpenTelemetryTraceSink._on_llm_started,
    "llm.call.completed": OpenTelemetryTraceSink._on_llm_completed,
    "llm.call.failed": OpenTelemetryTraceSink._on_llm_failed,
    "tool.call": OpenTelemetryTraceSink._on_tool_call,
    "tool.result": OpenTelemetryTraceSink._on_tool_result,
    "assistant.message": OpenTelemetryTraceSink._on_assistant_message,
    "checkpoint": OpenTelemetryTraceSink._on_checkpoint,
    "custom": OpenTelemetryTraceSink._on_custom,
}
