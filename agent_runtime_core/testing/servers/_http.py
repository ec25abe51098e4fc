"""HTTP plumbing shared by the loopback model servers (OpenAI-compatible and Anthropic).

- `LoopbackServer`: binds a loopback address only, serves from background threads, records
  requests (never their headers), checks a bearer key, queues injected faults; `stop()` closes
  every connection and joins every thread it started.
- `RequestHandler`: reads bounded bodies (Content-Length or chunked), answers JSON and SSE, turns
  `HTTPError` (and anything unexpected) into an OpenAI-style JSON error body, logs nothing.
  A server's handler subclasses it and implements `_dispatch`.

Standard library only.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, Self

from agent_runtime_core.errors import UserError

Json = dict[str, Any]
Fault = Literal["malformed_json", "truncated"]

_MAX_BODY = 32 * 1024 * 1024
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received (headers are not kept: they may carry an API key)."""

    method: str
    """`GET` or `POST`."""
    path: str
    """The path, e.g. `/v1/chat/completions`."""
    body: Any
    """The parsed JSON body (None for GET or a body that is not JSON)."""


class HTTPError(Exception):
    """An error to answer with an OpenAI-style JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> Json:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class Stopping(Exception):
    """The server is stopping while a request waits out its delay."""


def loopback_host(host: str) -> str:
    """`host` as a loopback IP address (`localhost` is 127.0.0.1); any other host is refused."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise UserError(
            f"OpenAICompatibleServer only listens on a loopback address (127.0.0.1, ::1 or localhost); "
            f"refusing host {host!r}. A test server must not be reachable from the network."
        )
    return str(address)


def required_str(body: Json, name: str) -> str:
    """The request body's non-empty string `name`, or a 400 naming the parameter."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise HTTPError(
            400, f"Missing required parameter: '{name}' (a non-empty string).", param=name
        )
    return value


class LoopbackServer:
    """An HTTP server on a loopback address, serving `_handler_class` from background threads.

    Use it as a context manager, or call `start()` and `stop()`.
    """

    _handler_class: ClassVar[type[RequestHandler]]
    """The request handler (each server sets its own, below its handler class)."""

    def __init__(self, *, host: str, port: int, api_key: str | None) -> None:
        self.host = loopback_host(host)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UserError(f"port must be an integer from 0 to 65535; got {port!r}.")
        self._requested_port = port
        self._api_key = api_key
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._requests: list[RecordedRequest] = []
        self._ids = 0
        self._faults: list[Fault] = []

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The port listened on (known once started)."""
        if self._httpd is None:
            raise RuntimeError(
                "The server is not started; call start() or use it as a context manager."
            )
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no `/v1`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Bind and serve in a background thread; returns self."""
        with self._lock:
            if self._httpd is not None:
                raise RuntimeError("The server is already running.")
            self._stopping.clear()
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            httpd = _HTTPServer(
                (self.host, self._requested_port), self._handler_class, app=self, family=family
            )
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"openai-compatible-server:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and open connections, join the threads."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            if httpd is None:
                return
            self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
        deadline = time.monotonic() + _JOIN_TIMEOUT
        while True:
            with self._lock:
                handlers = list(self._handler_threads)
            if not handlers:
                break
            for handler in handlers:
                handler.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        with self._lock:
            self._httpd = None
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy; no headers kept)."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def inject_fault(self, fault: Fault, *, times: int = 1) -> None:
        """Make the next `times` model requests answer with a broken HTTP response.

        Faults test what a client does with a response no SDK can parse; they are served after the
        script resolved the turn (so the request counts as a call):

        - `"malformed_json"`: status 200 with a body that is not JSON (streamed: an SSE `data:`
          line that is not JSON).
        - `"truncated"`: the body (or the stream) stops halfway and the connection is closed.

        Chat Completions only (`/v1/chat/completions`, and the Anthropic server's `/v1/messages`).
        """
        if fault not in ("malformed_json", "truncated"):
            raise UserError(f"Unknown fault {fault!r}; use 'malformed_json' or 'truncated'.")
        if times < 1:
            raise UserError(f"inject_fault(times=...) must be at least 1; got {times}.")
        with self._lock:
            self._faults.extend([fault] * times)

    # -- internals used by the handler --------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, body))

    def _register(self, conn: socket.socket) -> bool:
        with self._lock:
            self._connections.add(conn)
            return not self._stopping.is_set()

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _authorized(self, header: str | None) -> bool:
        if self._api_key is None:
            return True
        expected = f"Bearer {self._api_key}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler threads are tracked, so `stop()` can join them."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        app: LoopbackServer,
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family
        self.app = app
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (a DNS lookup): not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            daemon=True,
            name="openai-compatible-conn",
        )
        with self.app._lock:
            self.app._handler_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.app._lock:
                self.app._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Swallow connection errors quietly (a client that went away is not a server fault)."""


class RequestHandler(BaseHTTPRequestHandler):
    """JSON and SSE over HTTP/1.1 for a `LoopbackServer`; subclasses implement `_dispatch`."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits
    # for the client's delayed ACK (~40 ms per reply on Linux loopback).
    disable_nagle_algorithm = True
    server_version = "agent-runtime-scripted/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        if not self.server.app._register(self.connection):
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.app._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Used by http.server for malformed requests and unknown methods: answer in JSON too.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send_json(code, HTTPError(code, message or explain or "Bad request.").body())

    # -- writing ------------------------------------------------------------------------------

    def _send_json(self, status: int, body: Json, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{self.server.app._next_id()}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{self.server.app._next_id()}")
        self.end_headers()

    def _write_chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    # -- broken responses (inject_fault) ------------------------------------------------------

    def _send_broken_json(self, fault: Fault, body: Json) -> None:
        """Answer 200 with a body that is not JSON, or with half a body and a closed connection."""
        data = json.dumps(body).encode("utf-8")
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-request-id", f"req_{self.server.app._next_id()}")
        if fault == "malformed_json":
            data = b"<html>502 Bad Gateway: upstream sent garbage</html>"
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data if fault == "malformed_json" else data[: len(data) // 2])
        self.wfile.flush()

    def _send_sse(self, events: list[str], fault: Fault | None) -> None:
        """Stream SSE `events`; a fault replaces one with garbage or cuts the stream halfway."""
        self._start_sse()
        half = max(1, len(events) // 2)
        for index, event in enumerate(events):
            if fault == "truncated" and index == half:
                self.close_connection = True
                self.wfile.flush()
                return  # no terminating chunk: the client sees the connection end mid-body
            if fault == "malformed_json" and index == half:
                event = event.split("data:", 1)[0] + "data: {not json\n\n"  # keeps `event:`
            self._write_chunk(event)
        self._end_sse()

    # -- reading ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise HTTPError(
                400, f"Invalid Content-Length header: {length_header[:40]!r}."
            ) from None
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, f"The request body must be at most {_MAX_BODY} bytes.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise HTTPError(400, "Malformed chunked request body.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data)
            if len(data) + size > _MAX_BODY:
                self.close_connection = True
                raise HTTPError(413, f"The request body must be at most {_MAX_BODY} bytes.")
            data += self.rfile.read(size)
            self.rfile.readline(1024)

    # -- routing ------------------------------------------------------------------------------

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") or path == "/v1" else path

    def _handle(self, method: str) -> None:
        try:
            body: Any = None
            raw = self._read_body() if method == "POST" else b""
            path = self.path.split("?", 1)[0]
            if method == "POST":
                try:
                    body = json.loads(raw) if raw else None
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    self.server.app._record(method, path, None)
                    raise HTTPError(
                        400,
                        f"We could not parse the JSON body of your request ({e}). The body must be a JSON object.",
                    ) from None
            self.server.app._record(method, path, body)
            if not self.server.app._authorized(self.headers.get("Authorization")):
                raise HTTPError(
                    401,
                    "Incorrect API key provided.",
                    type="authentication_error",
                    code="invalid_api_key",
                )
            self._dispatch(method, self._route(), body)
        except Stopping:
            self.close_connection = True
        except HTTPError as e:
            self._send_json(e.status, e.body(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as e:  # never let a bad request take a handler thread down noisily
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(
                    500,
                    HTTPError(
                        500, f"Internal error: {type(e).__name__}: {e}", type="server_error"
                    ).body(),
                )

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("GET")

    def _dispatch(self, method: str, route: str, body: Any) -> None:
        """Answer a request that passed the key check (`route` has no `/v1` prefix)."""
        raise HTTPError(
            404, f"Unknown endpoint {method} {self.path.split('?', 1)[0]}.", code="unknown_url"
        )
