"""A loopback OTLP/HTTP trace receiver, and helpers to look at span trees in tests.

`OTLPReceiver` listens on 127.0.0.1, accepts `POST .../v1/traces` (so it also poses as a Langfuse
host: `/api/public/otel/v1/traces`), decodes the protobuf (or JSON) `ExportTraceServiceRequest`
with `opentelemetry-proto`, and keeps the spans as plain `ReceivedSpan`s, so a test sees exactly
what an exporter put on the wire::

    with OTLPReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.traces_url)
        ...
        spans = receiver.wait_for_spans(5)
        print(format_span_tree(spans))

Unlike the model servers, it keeps each request's headers (`ReceivedRequest.headers`), because
checking an exporter's authentication is what it is for. Needs `opentelemetry-proto`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent_runtime_core.errors import UserError

__all__ = [
    "OTLPReceiver",
    "ReceivedRequest",
    "ReceivedSpan",
    "format_span_tree",
    "span_tree",
]

_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as decoded from an OTLP request."""

    name: str
    trace_id: str
    """Hex, 32 characters."""
    span_id: str
    """Hex, 16 characters."""
    parent_span_id: str | None
    """Hex, or None for a root span."""
    kind: str
    """`SPAN_KIND_INTERNAL`, `SPAN_KIND_CLIENT`, ..."""
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: dict[str, Any]
    status_code: str
    """`STATUS_CODE_UNSET`, `STATUS_CODE_OK` or `STATUS_CODE_ERROR`."""
    status_message: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(name, attributes) of each span event."""
    resource: dict[str, Any] = field(default_factory=dict)
    """Attributes of the resource that sent it (`service.name`, ...)."""
    scope: str = ""
    """The instrumentation scope's name."""
    links: list[str] = field(default_factory=list)
    """Span ids (hex) this span links to."""


@dataclass(frozen=True)
class ReceivedRequest:
    """One export request."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    content_type: str
    spans: int
    """How many spans it carried."""


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _attributes(items: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in items}


def _decode(body: bytes, content_type: str) -> list[ReceivedSpan]:
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    request = ExportTraceServiceRequest()
    if "json" in content_type:
        json_format.Parse(body.decode("utf-8"), request)
    else:
        request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        kind=Span.SpanKind.Name(span.kind),
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        status_code=Status.StatusCode.Name(span.status.code),
                        status_message=span.status.message,
                        events=[(e.name, _attributes(e.attributes)) for e in span.events],
                        resource=resource,
                        scope=scope_spans.scope.name,
                        links=[link.span_id.hex() for link in span.links],
                    )
                )
    return spans


class OTLPReceiver:
    """An OTLP/HTTP trace endpoint on a loopback address, for tests.

    Thread-safe; use it as a context manager or call `start()` / `stop()`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, status: int = 200) -> None:
        """Build a receiver (not started).

        Args:
            host: `127.0.0.1` or `localhost` (nothing else: a test must stay on the machine).
            port: The port; 0 picks a free one.
            status: The HTTP status to answer with (e.g. 503 to test an exporter's retries).
        """
        if host not in ("127.0.0.1", "localhost"):
            raise UserError(f"OTLPReceiver only listens on 127.0.0.1; refusing {host!r}.")
        self.host = "127.0.0.1"
        self.status = status
        """The status every request is answered with."""
        self._port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._spans: list[ReceivedSpan] = []
        self._requests: list[ReceivedRequest] = []
        self._errors: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"<OTLPReceiver {where} spans={len(self._spans)}>"

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (a Langfuse `host`, for instance)."""
        if self._httpd is None:
            raise RuntimeError("The receiver is not started.")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    @property
    def traces_url(self) -> str:
        """`http://127.0.0.1:PORT/v1/traces`: an OTLP/HTTP exporter's `endpoint`."""
        return f"{self.url}/v1/traces"

    def start(self) -> OTLPReceiver:
        """Start serving in a background thread; returns self."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """No per-request logging."""

            def do_POST(self) -> None:
                receiver._handle(self)

        httpd = ThreadingHTTPServer((self.host, self._port), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otlp-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it received ----------------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far (a copy)."""
        with self._lock:
            return list(self._spans)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every export request so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Bodies that could not be decoded (their error messages)."""
        with self._lock:
            return list(self._errors)

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Block until at least `count` spans arrived (or raise TimeoutError); returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._spans) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"OTLPReceiver got {len(self._spans)} span(s), expected {count}, within {timeout}s."
                    )
                self._changed.wait(remaining)
            return list(self._spans)

    def clear(self) -> None:
        """Forget the spans, requests and errors received."""
        with self._lock:
            self._spans.clear()
            self._requests.clear()
            self._errors.clear()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, _MAX_BODY))
        encoding = (handler.headers.get("Content-Encoding") or "").lower()
        content_type = (handler.headers.get("Content-Type") or "application/x-protobuf").lower()
        status, spans = self.status, []
        try:
            if not path.endswith("/v1/traces"):
                status = 404
            else:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                spans = _decode(body, content_type)
        except Exception as e:  # a broken body is the exporter's bug: record it, answer 400
            status = 400
            with self._lock:
                self._errors.append(f"{type(e).__name__}: {e}")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._changed:
            self._requests.append(ReceivedRequest(path, headers, content_type, len(spans)))
            if status < 300:
                self._spans.extend(spans)
            self._changed.notify_all()
        reply = b"" if status < 300 else json.dumps({"message": "not accepted"}).encode()
        with contextlib.suppress(OSError):
            handler.send_response(status)
            handler.send_header(
                "Content-Type", content_type if status < 300 else "application/json"
            )
            handler.send_header("Content-Length", str(len(reply)))
            handler.end_headers()
            handler.wfile.write(reply)


# -- span trees -----------------------------------------------------------------------------------


def _ids(span: Any) -> tuple[str, str | None, int]:
    """(span id, parent id, start ns) of a `ReceivedSpan` or an SDK `ReadableSpan`."""
    if isinstance(span, ReceivedSpan):
        return span.span_id, span.parent_span_id, span.start_time_unix_nano
    context = span.get_span_context()
    parent = span.parent
    return (
        format(context.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None else None,
        int(span.start_time or 0),
    )


def span_tree(spans: Iterable[Any]) -> list[tuple[int, Any]]:
    """`(depth, span)` in tree order (parents first, siblings by start time).

    Takes `ReceivedSpan`s or the SDK's `ReadableSpan`s (e.g. from an `InMemorySpanExporter`).
    Spans whose parent is not among them are roots.
    """
    items = list(spans)
    info = {id(span): _ids(span) for span in items}
    known = {info[id(span)][0] for span in items}
    children: dict[str | None, list[Any]] = {}
    for span in items:
        _, parent, _ = info[id(span)]
        children.setdefault(parent if parent in known else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (info[id(s)][2], s.name))
    ordered: list[tuple[int, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            ordered.append((depth, span))
            walk(info[id(span)][0], depth + 1)

    walk(None, 0)
    return ordered


def format_span_tree(spans: Iterable[Any], *, attributes: Iterable[str] = ()) -> str:
    """The tree as indented lines of span names (with the chosen attributes), for asserts and
    for reading a failure."""
    keys = list(attributes)
    lines: list[str] = []
    for depth, span in span_tree(spans):
        attrs = dict(span.attributes or {})
        shown = " ".join(f"{k}={attrs[k]!r}" for k in keys if k in attrs)
        lines.append(("  " * depth + span.name + (f"  [{shown}]" if shown else "")).rstrip())
    return "\n".join(lines)
