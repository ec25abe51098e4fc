"""Tracing: `TraceSink`, the hook for custom platforms, and ready-made sinks.

- `TraceSink`: receives every event of every run (subclass it for a custom platform).
- `JSONLinesTraceSink`, `ConsoleTraceSink`: a file of JSON lines, a line per event on stderr.
- `OpenTelemetryTraceSink` (extra `otel`): one OpenTelemetry span tree per run, GenAI semantic
  conventions, to the application's TracerProvider.
- `LangfuseTraceSink` (extra `langfuse`): the same trees, sent to Langfuse's OTLP endpoint.
- `MultiTraceSink`: several sinks as one; `default_trace_sink()`: what a runner uses when it is
  given none (OpenTelemetry if installed, plus Langfuse when `configure(langfuse_enabled=True)`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from .._redaction import get_logger
from .base import TraceSink
from .sinks import ConsoleTraceSink, JSONLinesTraceSink

if TYPE_CHECKING:
    from ..config import RuntimeConfig
    from .langfuse import LangfuseTraceSink
    from .otel import OpenTelemetryTraceSink

__all__ = [
    "ConsoleTraceSink",
    "JSONLinesTraceSink",
    "LangfuseTraceSink",
    "MultiTraceSink",
    "OpenTelemetryTraceSink",
    "TraceSink",
    "default_trace_sink",
]

logger = get_logger(__name__)

__getattr__, __dir__ = lazy_exports(
    __name__, {"OpenTelemetryTraceSink": ".otel", "LangfuseTraceSink": ".langfuse"}
)


class MultiTraceSink(TraceSink):
    """Hands every event to several sinks, in order; one failing sink never stops the others."""

    def __init__(self, sinks: Iterable[TraceSink]) -> None:
        self.sinks: list[TraceSink] = list(sinks)
        """The sinks, in call order."""
        self._failures = 0

    def __repr__(self) -> str:
        return f"MultiTraceSink({self.sinks!r})"

    def _failed(self, sink: TraceSink, what: str) -> None:
        self._failures += 1
        if self._failures <= 3 or self._failures % 1000 == 0:
            logger.exception(
                "Trace sink %r failed in %s (%d failures so far).", sink, what, self._failures
            )

    async def trace(self, event: dict[str, Any]) -> None:
        for sink in self.sinks:
            try:
                await sink.trace(event)
            except Exception:
                self._failed(sink, "trace")

    async def flush(self) -> None:
        for sink in self.sinks:
            try:
                await sink.flush()
            except Exception:
                self._failed(sink, "flush")

    async def close(self) -> None:
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception:
                self._failed(sink, "close")


_shared_lock = threading.Lock()
_shared: dict[tuple[Any, ...], TraceSink] = {}


def _otel_provider_configured() -> bool:
    """Whether the application has set a real global TracerProvider (not the API's default)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def default_trace_sink(config: RuntimeConfig | None = None) -> TraceSink | None:
    """The trace sink a runner uses when it is given none.

    - `OpenTelemetryTraceSink` on the global TracerProvider, when the application has set one
      (`trace.set_tracer_provider(...)`) before the runner is built: runs are traced wherever
      OpenTelemetry is configured, and cost nothing where it is not (set the provider first, or
      pass `trace_sink=OpenTelemetryTraceSink()`);
    - `LangfuseTraceSink`, when `configure(langfuse_enabled=True, ...)` (raises `ImportError`
      naming the extra if it is not installed, `ConfigurationError` if a key is missing).

    Sinks are shared by every runner of the process (one export queue and thread for Langfuse).
    Returns None when there is nothing to trace to.
    """
    if config is None:
        from ..config import get_config

        config = get_config()
    sinks: list[TraceSink] = []
    with _shared_lock:
        if _otel_provider_configured():
            otel = _shared.get(("otel",))
            if otel is None:
                from .otel import OpenTelemetryTraceSink

                otel = _shared[("otel",)] = OpenTelemetryTraceSink()
            sinks.append(otel)
        if config.langfuse_enabled:
            key = (
                "langfuse",
                config.langfuse_host,
                config.langfuse_public_key,
                config.langfuse_secret_key,
            )
            langfuse = _shared.get(key)
            if langfuse is None:
                from .langfuse import LangfuseTraceSink

                langfuse = _shared[key] = LangfuseTraceSink.from_config(config)
            sinks.append(langfuse)
    if not sinks:
        return None
    return sinks[0] if len(sinks) == 1 else MultiTraceSink(sinks)
