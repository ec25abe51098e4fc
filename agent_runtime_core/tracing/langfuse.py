"""`LangfuseTraceSink`: the run span trees, sent to Langfuse through its OpenTelemetry endpoint.

Langfuse ingests OTLP/HTTP at `{host}/api/public/otel/v1/traces` with basic auth
(`public_key:secret_key`) and reads the GenAI attributes the span tree carries (model, usage,
tool names), so the same traces every other backend gets show up there as traces, generations
and tool observations. This module uses that endpoint rather than the Langfuse SDK because:

- `Langfuse()` installs itself as the global TracerProvider unless given one; here the exporter
  sits on a private `TracerProvider`, so the application's own tracing is left alone;
- the export path is OpenTelemetry's `BatchSpanProcessor`: spans are queued in memory and sent in
  batches by a background thread, so a run never waits for Langfuse. When Langfuse is slow or
  unreachable the queue fills and the oldest unsent spans are dropped; runs neither slow down
  nor fail.

Needs `pip install 'agent-runtime-core[langfuse]'` (opentelemetry-sdk and the OTLP/HTTP
exporter). `configure(langfuse_enabled=True, langfuse_public_key=..., langfuse_secret_key=...,
langfuse_host=...)` makes `default_trace_sink()` include one.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

from agent_runtime_core import _secrets
from agent_runtime_core.errors import ConfigurationError
from agent_runtime_core.tracing.otel import OpenTelemetryTraceSink

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError as _import_error:
    raise ImportError(
        "LangfuseTraceSink requires the 'opentelemetry-sdk' and "
        "'opentelemetry-exporter-otlp-proto-http' packages. "
        "Install them with: pip install 'agent-runtime-core[langfuse]'"
    ) from _import_error

if TYPE_CHECKING:
    from agent_runtime_core.config import RuntimeConfig

__all__ = ["DEFAULT_LANGFUSE_HOST", "LANGFUSE_OTEL_PATH", "LangfuseTraceSink"]

DEFAULT_LANGFUSE_HOST = "https://cloud.langfuse.com"
"""Langfuse Cloud (EU), the host when none is configured."""

LANGFUSE_OTEL_PATH = "/api/public/otel/v1/traces"
"""Where a Langfuse host takes OTLP/HTTP traces."""


class LangfuseTraceSink(OpenTelemetryTraceSink):
    """Sends run span trees to Langfuse, batched, from a background thread.

    Holds its own `TracerProvider` (never the global one). Call `await sink.close()` at shutdown
    to send what is queued (bounded by `export_timeout`).
    """

    def __init__(
        self,
        public_key: str,
        secret_key: str,
        host: str | None = None,
        *,
        record_content: bool | None = None,
        export_timeout: float = 10.0,
        schedule_delay: float = 1.0,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        service_name: str = "agent-runtime",
        exporter: Any = None,
    ) -> None:
        """Build a sink (nothing is sent until spans end).

        Args:
            public_key: Langfuse public key (`pk-lf-...`).
            secret_key: Langfuse secret key (`sk-lf-...`); never logged or shown.
            host: The Langfuse host, e.g. `https://cloud.langfuse.com` or a self-hosted URL.
            record_content: Record tool arguments/results, assistant messages and final outputs
                (redacted). Default: the `AGENT_RUNTIME_TRACE_CONTENT` variable.
            export_timeout: Seconds one export may take (retries of a down host included)
                before its batch is dropped.
            schedule_delay: Seconds between batch exports.
            max_queue_size: Spans queued at most; beyond, new spans are dropped, never waited on.
            max_export_batch_size: Spans per request.
            service_name: The `service.name` resource attribute.
            exporter: Another `SpanExporter` to use instead of OTLP/HTTP (tests).

        Raises:
            ConfigurationError: A key is missing, or the host is not an http(s) URL.
        """
        if not public_key or not secret_key:
            raise ConfigurationError(
                "Langfuse tracing needs both keys: pass langfuse_public_key and langfuse_secret_key "
                "to configure() (or set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)."
            )
        host = (host or DEFAULT_LANGFUSE_HOST).rstrip("/")
        if not host.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"langfuse_host must be an http(s) URL; got {_secrets.redact(host)!r}."
            )
        _secrets.register_secret(secret_key)
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
        _secrets.register_secret(token)
        self.host = host
        """The Langfuse host."""
        self.endpoint = host + LANGFUSE_OTEL_PATH
        """The OTLP/HTTP endpoint spans are sent to."""
        self.public_key = public_key
        """The public key (shown in reprs; not a secret)."""
        if exporter is None:
            exporter = OTLPSpanExporter(
                endpoint=self.endpoint,
                headers={"Authorization": f"Basic {token}"},
                timeout=export_timeout,
            )
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            shutdown_on_exit=False,  # close() sends the queue; an exit must not wait on a down host
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=max_queue_size,
                schedule_delay_millis=schedule_delay * 1000,
                max_export_batch_size=max_export_batch_size,
                export_timeout_millis=export_timeout * 1000,
            )
        )
        self.export_timeout = export_timeout
        """Seconds one export may take."""
        self.tracer_provider = provider
        """The private provider the spans go through."""
        super().__init__(provider, record_content=record_content)

    @classmethod
    def from_config(cls, config: RuntimeConfig | None = None, **kwargs: Any) -> LangfuseTraceSink:
        """A sink from `configure()`'s `langfuse_public_key`, `langfuse_secret_key`, `langfuse_host`."""
        if config is None:
            from agent_runtime_core.config import get_config

            config = get_config()
        return cls(
            config.langfuse_public_key or "",
            config.langfuse_secret_key or "",
            config.langfuse_host,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"LangfuseTraceSink(host={self.host!r}, public_key={self.public_key!r}, secret_key='***')"

    async def flush(self) -> None:
        """Send what is queued now (in a thread, bounded by `export_timeout`)."""
        timeout_ms = int(self.export_timeout * 1000)
        await asyncio.to_thread(self.tracer_provider.force_flush, timeout_ms)

    async def close(self) -> None:
        """Send what is queued and stop the export thread."""
        await asyncio.to_thread(self.tracer_provider.shutdown)
