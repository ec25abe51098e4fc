"""How a run's events become its spans, for `OpenTelemetryTraceSink` (see `tracing.otel`).

`start_run` opens a run's root span; `RunSpans` holds the run's open spans and changes them with
each event (`apply`), ending the root when the run ends. The sink that owns them (`otel.py`) keeps
the table of open runs, evicts the stale ones and links resumed runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_runtime_core.tracing._redact import redacted_text

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
    from collections.abc import Callable

    from opentelemetry.trace import Span, SpanContext, Tracer, TracerProvider

_OTHER = "_OTHER"


def configured_provider(provider: TracerProvider | None) -> TracerProvider | None:
    """`provider`, else the global one; None when that is the API's default (nothing records)."""
    if provider is None:
        provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def start_run(
    tracer: Tracer, run_id: str, event: dict[str, Any], resumed_from: SpanContext | None
) -> RunSpans:
    """Open the root span of a run at its first event (linked to the root it resumes, if any)."""
    payload = event.get("payload") or {}
    agent_key = str(payload.get("agent_key") or "") if event.get("type") == "run.started" else ""
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
    if resumed_from is not None:
        links.append(Link(resumed_from, {"agent_runtime.link": "resumed_from"}))
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
    return RunSpans(root=root, tracer=tracer, run_id=run_id, agent_key=agent_key)


@dataclass
class RunSpans:
    """The open spans of one run."""

    root: Span
    tracer: Tracer
    run_id: str
    agent_key: str
    attempts: int = 1
    last_seen: float = field(default_factory=time.monotonic)
    status: str | None = None
    """Set when the root span has ended: `succeeded`, `failed`, `cancelled` or `interrupted`."""
    steps: dict[str, list[Span]] = field(default_factory=dict)
    """Open step spans by step name (a list: a name may be open twice, e.g. a loop)."""
    llm_by_id: dict[str, Span] = field(default_factory=dict)
    """Open chat spans by the event's span_id."""
    llm_by_step: dict[str | None, list[Span]] = field(default_factory=dict)
    """Open chat spans without span_id, by step (FIFO)."""
    tools: dict[str, Span] = field(default_factory=dict)
    """Open tool spans by tool_call_id."""

    def apply(self, event: dict[str, Any], *, record_content: bool) -> None:
        """Change the spans for one event (`record_content`: record content, redacted)."""
        handler = _HANDLERS.get(str(event.get("type")))
        if handler is not None:
            handler(self, event, record_content)

    def abandon(self, reason: str) -> None:
        """End every open span now, marked abandoned (a run that never ended)."""
        now = time.time_ns()
        for span in self.open_children():
            span.set_attribute("agent_runtime.abandoned", True)
            span.end(end_time=now)
        self.root.set_attribute("agent_runtime.abandoned", reason)
        self.root.set_attribute("agent_runtime.run.attempts", self.attempts)
        self.root.end(end_time=now)

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

    def _finish(self, event: dict[str, Any], status: str) -> None:
        when = _ns(event)
        for span in self.open_children():
            span.set_attribute("agent_runtime.ended_by", str(event.get("type")))
            span.end(end_time=when)
        self.clear_children()
        self.root.set_attribute("agent_runtime.run.status", status)
        self.root.set_attribute("agent_runtime.run.attempts", self.attempts)
        self.root.end(end_time=when)
        self.status = status

    def _parent(self, step: Any) -> Span:
        if isinstance(step, str):
            stack = self.steps.get(step)
            if stack:
                return stack[-1]
        return self.root

    def _child(
        self,
        parent: Span,
        name: str,
        when: int,
        attributes: dict[str, Any],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        attributes["agent_runtime.run_id"] = self.run_id
        if self.agent_key:
            attributes["agent_runtime.agent_key"] = self.agent_key
        return self.tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            kind=kind,
            attributes=attributes,
            start_time=when,
        )

    # -- event handlers ------------------------------------------------------------------------

    def _on_run_started(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        attempt = payload.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            self.attempts = max(self.attempts, attempt)
            self.root.add_event(
                "agent_runtime.run.attempt", {"attempt": attempt}, timestamp=_ns(event)
            )

    def _on_run_retrying(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        when = _ns(event)
        for span in self.open_children():
            _set_error(span, payload.get("error"), when)
            span.end(end_time=when)
        self.clear_children()
        kind, message = _error_parts(payload.get("error"))
        self.root.add_event(
            "agent_runtime.run.retrying",
            {
                "attempt": int(payload.get("attempt") or self.attempts),
                "error.type": kind,
                "exception.message": message,
                "delay_seconds": float(payload.get("delay_seconds") or 0.0),
            },
            timestamp=when,
        )

    def _on_succeeded(self, event: dict[str, Any], record_content: bool) -> None:
        if record_content:
            output = (event.get("payload") or {}).get("final_output")
            if output is not None:
                self.root.set_attribute("agent_runtime.final_output", redacted_text(output))
        self._finish(event, "succeeded")

    def _on_failed(self, event: dict[str, Any], record_content: bool) -> None:
        _set_error(self.root, (event.get("payload") or {}).get("error"), _ns(event))
        self._finish(event, "failed")

    def _on_cancelled(self, event: dict[str, Any], record_content: bool) -> None:
        reason = (event.get("payload") or {}).get("reason")
        if reason:
            self.root.set_attribute("agent_runtime.cancel_reason", redacted_text(reason, 512))
        self._finish(event, "cancelled")

    def _on_interrupted(self, event: dict[str, Any], record_content: bool) -> None:
        self._finish(event, "interrupted")

    def _on_step_started(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        name = str(payload.get("name") or event.get("step") or "step")
        step_kind = str(payload.get("kind") or "step")
        parent = self.root
        parent_step = payload.get("parent_step")
        if isinstance(parent_step, str) and parent_step != name:
            parent = self._parent(parent_step)
        span = self._child(
            parent,
            name,
            _ns(event),
            {"agent_runtime.step.name": name, "agent_runtime.step.kind": step_kind},
        )
        self.steps.setdefault(name, []).append(span)

    def _pop_step(self, event: dict[str, Any]) -> Span | None:
        payload = event.get("payload") or {}
        name = payload.get("name") or event.get("step")
        stack = self.steps.get(name) if isinstance(name, str) else None
        if not stack:
            return None
        span = stack.pop()
        if not stack:
            del self.steps[name]  # type: ignore[arg-type]
        return span

    def _on_step_completed(self, event: dict[str, Any], record_content: bool) -> None:
        span = self._pop_step(event)
        if span is not None:
            span.end(end_time=_ns(event))

    def _on_step_failed(self, event: dict[str, Any], record_content: bool) -> None:
        span = self._pop_step(event)
        if span is not None:
            when = _ns(event)
            _set_error(span, (event.get("payload") or {}).get("error"), when)
            span.end(end_time=when)

    def _on_step_retrying(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        name = payload.get("name") or event.get("step")
        stack = self.steps.get(name) if isinstance(name, str) else None
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

    def _on_step_skipped(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        name = str(payload.get("name") or event.get("step") or "step")
        when = _ns(event)
        span = self._child(
            self.root,
            name,
            when,
            {
                "agent_runtime.step.name": name,
                "agent_runtime.step.kind": str(payload.get("kind") or "step"),
                "agent_runtime.step.skipped": True,
            },
        )
        span.end(end_time=when)

    def _on_llm_started(self, event: dict[str, Any], record_content: bool) -> None:
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
            self._parent(step),
            f"chat {model}" if model else "chat",
            _ns(event),
            attributes,
            SpanKind.CLIENT,
        )
        span_id = event.get("span_id")
        if isinstance(span_id, str) and span_id:
            self.llm_by_id[span_id] = span
        else:
            self.llm_by_step.setdefault(step if isinstance(step, str) else None, []).append(span)

    def _pop_llm(self, event: dict[str, Any]) -> Span | None:
        span_id = event.get("span_id")
        if isinstance(span_id, str) and span_id in self.llm_by_id:
            return self.llm_by_id.pop(span_id)
        step = event.get("step")
        key = step if isinstance(step, str) else None
        pending = self.llm_by_step.get(key)
        if not pending:  # the step tag may differ between start and end: take any open call
            key = next((k for k, v in self.llm_by_step.items() if v), None)
            pending = self.llm_by_step.get(key)
            if not pending:
                return None
        span = pending.pop(0)
        if not pending:
            del self.llm_by_step[key]
        return span

    def _on_llm_completed(self, event: dict[str, Any], record_content: bool) -> None:
        span = self._pop_llm(event)
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

    def _on_llm_failed(self, event: dict[str, Any], record_content: bool) -> None:
        span = self._pop_llm(event)
        if span is None:
            return
        when = _ns(event)
        _set_error(span, (event.get("payload") or {}).get("error"), when)
        span.end(end_time=when)

    def _on_tool_call(self, event: dict[str, Any], record_content: bool) -> None:
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
        if record_content and "arguments" in payload:
            attributes["gen_ai.tool.call.arguments"] = redacted_text(payload["arguments"])
        span = self._child(
            self._parent(event.get("step")),
            f"execute_tool {name}" if name else "execute_tool",
            _ns(event),
            attributes,
        )
        key = call_id or f"{name}#{event.get('seq')}"
        previous = self.tools.pop(key, None)
        if previous is not None:  # the same id twice: end the first rather than leak it
            previous.end(end_time=_ns(event))
        self.tools[key] = span

    def _on_tool_result(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        call_id = str(payload.get("tool_call_id") or "")
        span = self.tools.pop(call_id, None) if call_id else None
        if span is None:
            name = str(payload.get("name") or "")
            key = next((k for k in self.tools if k.startswith(f"{name}#")), None)
            span = self.tools.pop(key, None) if key is not None else None
            if span is None:
                return
        when = _ns(event)
        if "error" in payload and payload["error"] is not None:
            _set_error(span, {"type": "ToolError", "message": payload["error"]}, when)
        elif record_content and "result" in payload:
            span.set_attribute("gen_ai.tool.call.result", redacted_text(payload["result"]))
        span.end(end_time=when)

    def _on_assistant_message(self, event: dict[str, Any], record_content: bool) -> None:
        if not record_content:
            return
        content = (event.get("payload") or {}).get("content")
        if content is None:
            return
        self._parent(event.get("step")).add_event(
            "gen_ai.assistant.message",
            {"gen_ai.message.role": "assistant", "content": redacted_text(content)},
            timestamp=_ns(event),
        )

    def _on_checkpoint(self, event: dict[str, Any], record_content: bool) -> None:
        checkpoint_id = (event.get("payload") or {}).get("checkpoint_id")
        self._parent(event.get("step")).add_event(
            "agent_runtime.checkpoint",
            {"checkpoint_id": str(checkpoint_id or "")},
            timestamp=_ns(event),
        )

    def _on_custom(self, event: dict[str, Any], record_content: bool) -> None:
        payload = event.get("payload") or {}
        attributes = {"agent_runtime.custom.name": str(payload.get("name") or "")}
        if record_content and "data" in payload:
            attributes["agent_runtime.custom.data"] = redacted_text(payload["data"])
        self._parent(event.get("step")).add_event("agent_runtime.custom", attributes, timestamp=_ns(event))


_HANDLERS: dict[str, Callable[[RunSpans, dict[str, Any], bool], None]] = {
    "run.started": RunSpans._on_run_started,
    "run.retrying": RunSpans._on_run_retrying,
    "run.succeeded": RunSpans._on_succeeded,
    "run.failed": RunSpans._on_failed,
    "run.cancelled": RunSpans._on_cancelled,
    "run.interrupted": RunSpans._on_interrupted,
    "step.started": RunSpans._on_step_started,
    "step.completed": RunSpans._on_step_completed,
    "step.failed": RunSpans._on_step_failed,
    "step.retrying": RunSpans._on_step_retrying,
    "step.skipped": RunSpans._on_step_skipped,
    "llm.call.started": RunSpans._on_llm_started,
    "llm.call.completed": RunSpans._on_llm_completed,
    "llm.call.failed": RunSpans._on_llm_failed,
    "tool.call": RunSpans._on_tool_call,
    "tool.result": RunSpans._on_tool_result,
    "assistant.message": RunSpans._on_assistant_message,
    "checkpoint": RunSpans._on_checkpoint,
    "custom": RunSpans._on_custom,
}


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
