"""A loopback OpenAI-compatible HTTP server that serves a `ScriptedModel`.

Point any framework's real OpenAI client at `server.base_url` and it runs offline: LangGraph's
`ChatOpenAI` and CrewAI's `LLM` use Chat Completions (streamed or not, with tool calls), the OpenAI
Agents SDK uses the Responses API (streamed or not, with function calls and their outputs). The
server is standard library only, listens on a loopback address only, and runs in its own threads,
so it serves clients on any event loop or thread::

    model = ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply("Sunny.")])
    with OpenAICompatibleServer(model) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...

Endpoints: `POST /v1/chat/completions`, `POST /v1/responses`, `GET /v1/models` (the `/v1` prefix
is optional). Errors (`fail` turns, bad requests, an exhausted script) are OpenAI-style JSON bodies
with the matching status, so the SDK raises its own exception classes. The server keeps each
request's path and parsed body in `requests` but never the Authorization header, and logs nothing.
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
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal

from agent_runtime_core.errors import UserError
from agent_runtime_core.llm.base import LLMResponse
from agent_runtime_core.testing.scripted import (
    Failure,
    Resolved,
    ScriptedModel,
    ScriptEntry,
    ScriptExhaustedError,
    message_text,
    split_text,
)

__all__ = ["OpenAICompatibleServer", "RecordedRequest"]

Json = dict[str, Any]
Fault = Literal["malformed_json", "truncated"]

_MAX_BODY = 32 * 1024 * 1024
_MAX_STORED_RESPONSES = 1000
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


class _HTTPError(Exception):
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


class OpenAICompatibleServer:
    """Serves a `ScriptedModel` over HTTP on 127.0.0.1 (or another loopback address).

    Use it as a context manager, or call `start()` and `stop()`. `stop()` closes every connection
    and joins every thread it started.
    """

    _handler_class: ClassVar[type[_Handler]]
    """The request handler (set below `_Handler`; servers of other wire APIs subclass both)."""

    def __init__(
        self,
        model: ScriptedModel | Iterable[ScriptEntry],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        model_names: Iterable[str] = ("gpt-4o", "gpt-4o-mini"),
    ) -> None:
        """Build a server (not started).

        Args:
            model: The scripted model to serve, or its script.
            host: A loopback address (`127.0.0.1`, `::1`, `localhost`); anything else is refused.
            port: The port; 0 picks a free one.
            api_key: When set, requests must carry `Authorization: Bearer <api_key>` (else 401).
            model_names: Model ids listed by `GET /v1/models` (with the scripted model's name).
        """
        self.model = model if isinstance(model, ScriptedModel) else ScriptedModel(model)
        self.host = _loopback_host(host)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UserError(f"port must be an integer from 0 to 65535; got {port!r}.")
        self._requested_port = port
        self._api_key = api_key
        names = list(dict.fromkeys([*model_names, self.model.name]))
        self.model_names: list[str] = names
        """Model ids listed by `GET /v1/models`."""
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._requests: list[RecordedRequest] = []
        self._model_calls = 0
        self._ids = 0
        self._conversations: OrderedDict[str, list[Json]] = OrderedDict()
        self._faults: list[Fault] = []

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OpenAICompatibleServer {self.base_url if self.running else self.host} {state} calls={self.model_calls}>"

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

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: what OpenAI clients take as `base_url`."""
        return f"{self.url}/v1"

    def start(self) -> OpenAICompatibleServer:
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

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy; no headers kept)."""
        with self._lock:
            return list(self._requests)

    @property
    def model_calls(self) -> int:
        """How many requests reached the model (failed ones included)."""
        with self._lock:
            return self._model_calls

    def reset(self) -> None:
        """Forget recorded requests, the call count and stored Responses-API conversations."""
        with self._lock:
            self._requests.clear()
            self._model_calls = 0
            self._conversations.clear()
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

    def _resolve(self, messages: list[Json], tools: list[Json], model: str) -> Resolved:
        with self._lock:
            self._model_calls += 1
        try:
            resolved = self.model.resolve(messages, tools, model)
        except ScriptExhaustedError as e:
            raise _HTTPError(
                400, str(e), code="script_exhausted", headers={"x-should-retry": "false"}
            ) from e
        except Exception as e:  # a bug in a callable turn: say so, and do not let the SDK retry it
            raise _HTTPError(
                500,
                f"The scripted model raised {type(e).__name__}: {e}",
                type="server_error",
                code="script_error",
                headers={"x-should-retry": "false"},
            ) from e
        if resolved.delay and self._stopping.wait(resolved.delay):
            raise _Stopping
        if resolved.failure is not None:
            raise _failure_error(resolved.failure)
        return resolved

    def _remember(self, response_id: str, conversation: list[Json]) -> None:
        with self._lock:
            self._conversations[response_id] = conversation
            while len(self._conversations) > _MAX_STORED_RESPONSES:
                self._conversations.popitem(last=False)

    def _recall(self, response_id: str) -> list[Json] | None:
        with self._lock:
            stored = self._conversations.get(response_id)
            return list(stored) if stored is not None else None


class _Stopping(Exception):
    """The server is stopping while a request waits out its delay."""


def _loopback_host(host: str) -> str:
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


def _failure_error(failure: Failure) -> _HTTPError:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["retry-after-ms"] = str(int(failure.retry_after * 1000))
    return _HTTPError(
        failure.status, failure.message, type=failure.type, code=failure.code, headers=headers
    )


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler threads are tracked, so `stop()` can join them."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        app: OpenAICompatibleServer,
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits
    # for the client's delayed ACK (~40 ms per reply on Linux loopback).
    disable_nagle_algorithm = True
    # Buffer what a reply writes and send it when the handler returns (http.server flushes after
    # each request): a reply is then one write, not one per header block and per SSE event. The
    # events of a streamed reply are all known up front, so the client reads the same bytes with
    # one wake-up instead of one per event (~60-100 µs less per streamed reply on loopback).
    wbufsize = -1
    server_version = "agent-runtime-scripted/1.0"
    server: _HTTPServer

    # -- plumbing -----------------------------------------------------------------------------

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

    def handle_expect_100(self) -> bool:
        # The interim "100 Continue" must reach the client now: it waits for it to send the body.
        answer = super().handle_expect_100()
        self.wfile.flush()
        return answer

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Used by http.server for malformed requests and unknown methods: answer in JSON too.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send_json(code, _HTTPError(code, message or explain or "Bad request.").body())

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
            raise _HTTPError(
                400, f"Invalid Content-Length header: {length_header[:40]!r}."
            ) from None
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True
            raise _HTTPError(413, f"The request body must be at most {_MAX_BODY} bytes.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise _HTTPError(400, "Malformed chunked request body.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data)
            if len(data) + size > _MAX_BODY:
                self.close_connection = True
                raise _HTTPError(413, f"The request body must be at most {_MAX_BODY} bytes.")
            data += self.rfile.read(size)
            self.rfile.readline(1024)

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
                    raise _HTTPError(
                        400,
                        f"We could not parse the JSON body of your request ({e}). The body must be a JSON object.",
                    ) from None
            self.server.app._record(method, path, body)
            if not self.server.app._authorized(self.headers.get("Authorization")):
                raise _HTTPError(
                    401,
                    "Incorrect API key provided.",
                    type="authentication_error",
                    code="invalid_api_key",
                )
            self._dispatch(method, self._route(), body)
        except _Stopping:
            self.close_connection = True
        except _HTTPError as e:
            self._send_json(e.status, e.body(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as e:  # never let a bad request take a handler thread down noisily
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(
                    500,
                    _HTTPError(
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
        routes = {
            "/chat/completions": ("POST", self._chat_completions),
            "/responses": ("POST", self._responses),
            "/models": ("GET", None),
        }
        if route.startswith("/models/") and method == "GET":
            name = route[len("/models/") :]
            if name not in self.server.app.model_names:
                raise _HTTPError(404, f"The model '{name}' does not exist.", code="model_not_found")
            self._send_json(200, _model_object(name))
            return
        if route not in routes:
            raise _HTTPError(
                404, f"Unknown endpoint {method} {self.path.split('?', 1)[0]}.", code="unknown_url"
            )
        expected, handler = routes[route]
        if method != expected:
            raise _HTTPError(
                405, f"{route} takes {expected}, not {method}.", code="method_not_allowed"
            )
        if handler is None:
            names = self.server.app.model_names
            self._send_json(200, {"object": "list", "data": [_model_object(n) for n in names]})
            return
        if not isinstance(body, dict):
            raise _HTTPError(400, "The request body must be a JSON object.")
        handler(body)

    # -- chat completions ---------------------------------------------------------------------

    def _chat_completions(self, body: Json) -> None:
        model = _required_str(body, "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _HTTPError(
                400, "'messages' must be a non-empty array of message objects.", param="messages"
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _HTTPError(
                    400,
                    f"'messages[{i}]' must be an object with a string 'role'.",
                    param=f"messages[{i}]",
                )
        tools = _chat_tools(body.get("tools"))
        stream = body.get("stream") is True
        stream_options = body.get("stream_options")
        include_usage = (
            stream
            and isinstance(stream_options, dict)
            and stream_options.get("include_usage") is True
        )
        resolved = self.server.app._resolve(messages, tools, model)
        response = resolved.result()
        completion_id = f"chatcmpl-{self.server.app._next_id():08d}"
        created = int(time.time())
        fault = self.server.app._take_fault()
        if not stream:
            body = _chat_completion(completion_id, created, model, response)
            if fault is not None:
                self._send_broken_json(fault, body)
                return
            self._send_json(200, body)
            return
        events = [
            f"data: {json.dumps(chunk)}\n\n"
            for chunk in _chat_chunks(completion_id, created, model, response, include_usage)
        ]
        self._send_sse(events + ["data: [DONE]\n\n"], fault)

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

    # -- responses ----------------------------------------------------------------------------

    def _responses(self, body: Json) -> None:
        app = self.server.app
        model = _required_str(body, "model")
        previous_id = body.get("previous_response_id")
        prior: list[Json] = []
        if previous_id is not None:
            if not isinstance(previous_id, str) or (stored := app._recall(previous_id)) is None:
                raise _HTTPError(
                    400,
                    f"Previous response with id '{previous_id}' not found.",
                    param="previous_response_id",
                )
            prior = stored
        raw_input = body.get("input")
        if raw_input is None and not prior:
            raise _HTTPError(400, "Missing required parameter: 'input'.", param="input")
        conversation = prior + _responses_input(raw_input)
        messages = list(conversation)
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            messages.insert(0, {"role": "system", "content": instructions})
        elif isinstance(instructions, list):
            messages[:0] = _responses_input(instructions)
        if not messages:
            raise _HTTPError(400, "'input' must not be empty.", param="input")
        tools_in = body.get("tools")
        resolved = app._resolve(messages, _responses_tools(tools_in), model)
        response = resolved.result()
        response_id = f"resp_{app._next_id():08d}"
        app._remember(response_id, [*conversation, response.message])
        output = _response_output(response_id, response)
        created = time.time()
        final = _response_object(response_id, created, model, body, "completed", output, response)
        if body.get("stream") is not True:
            self._send_json(200, final)
            return
        self._start_sse()
        for event in _response_events(response_id, created, model, body, output, response, final):
            self._write_chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
        self._end_sse()


# -- request parsing --------------------------------------------------------------------------


def _required_str(body: Json, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _HTTPError(
            400, f"Missing required parameter: '{name}' (a non-empty string).", param=name
        )
    return value


def _chat_tools(tools: Any) -> list[Json]:
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _HTTPError(400, "'tools' must be an array of tool objects.", param="tools")
    return list(tools)


def _responses_tools(tools: Any) -> list[Json]:
    """Responses-API function tools (`{"type": "function", "name": ...}`) in chat format."""
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _HTTPError(400, "'tools' must be an array of tool objects.", param="tools")
    converted: list[Json] = []
    for tool in tools:
        if tool.get("type") != "function":
            continue  # hosted tools (web search, ...) mean nothing to a scripted model
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
        converted.append({"type": "function", "function": function})
    return converted


def _responses_input(raw: Any) -> list[Json]:
    """Responses-API input (a string or items) as chat messages.

    Function calls join the assistant message before them, so one model reply stays one
    assistant message (the scripted model counts turns by assistant messages).
    """
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise _HTTPError(400, "'input' must be a string or an array of input items.", param="input")
    messages: list[Json] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _HTTPError(400, f"'input[{i}]' must be an object.", param=f"input[{i}]")
        kind = item.get("type")
        if kind in (None, "message") and "role" in item:
            role = item.get("role")
            if not isinstance(role, str):
                raise _HTTPError(
                    400, f"'input[{i}].role' must be a string.", param=f"input[{i}].role"
                )
            messages.append({"role": role, "content": message_text(item)})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise _HTTPError(
                    400,
                    f"'input[{i}]' (function_call) needs string 'call_id' and 'name'.",
                    param=f"input[{i}]",
                )
            arguments = item.get("arguments")
            call = {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else "{}",
                },
            }
            if messages and messages[-1].get("role") == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
                if not messages[-1].get("content"):
                    messages[-1]["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise _HTTPError(
                    400,
                    f"'input[{i}]' (function_call_output) needs a string 'call_id'.",
                    param=f"input[{i}]",
                )
            output = item.get("output")
            if isinstance(output, str):
                text = output
            elif isinstance(output, list):
                text = message_text({"content": output})
            else:
                text = json.dumps(output)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        # Other items (reasoning, item_reference, hosted tool calls) carry nothing a script reads.
    return messages


# -- chat completions output --------------------------------------------------------------------


def _chat_usage(response: LLMResponse) -> Json:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _chat_completion(completion_id: str, created: int, model: str, response: LLMResponse) -> Json:
    message: Json = {
        "role": "assistant",
        "content": response.message.get("content"),
        "refusal": None,
    }
    if response.tool_calls:
        message["tool_calls"] = response.tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": _chat_usage(response),
    }


def _chat_chunks(
    completion_id: str, created: int, model: str, response: LLMResponse, include_usage: bool
) -> Iterator[Json]:
    def chunk(delta: Json, finish_reason: str | None = None) -> Json:
        data: Json = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            data["usage"] = None
        return data

    yield chunk({"role": "assistant", "content": ""})
    for piece in split_text(response.content):
        yield chunk({"content": piece})
    for index, call in enumerate(response.tool_calls):
        function = call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in split_text(function["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, response.finish_reason)
    if include_usage:
        final = chunk({})
        final["choices"] = []
        final["usage"] = _chat_usage(response)
        yield final


# -- responses output ---------------------------------------------------------------------------


def _response_output(response_id: str, response: LLMResponse) -> list[Json]:
    suffix = response_id.removeprefix("resp_")
    items: list[Json] = []
    if response.content:
        items.append(
            {
                "id": f"msg_{suffix}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "text": response.content,
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        )
    for index, call in enumerate(response.tool_calls):
        items.append(
            {
                "id": f"fc_{suffix}_{index}",
                "type": "function_call",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    return items


def _response_usage(response: LLMResponse) -> Json:
    usage = response.usage
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _response_object(
    response_id: str,
    created: float,
    model: str,
    body: Json,
    status: str,
    output: list[Json],
    response: LLMResponse | None,
) -> Json:
    tools = []
    for tool in body.get("tools") or []:
        if (
            isinstance(tool, dict)
            and tool.get("type") == "function"
            and isinstance(tool.get("name"), str)
        ):
            tools.append(
                {
                    "type": "function",
                    "name": tool["name"],
                    "description": tool.get("description"),
                    "parameters": tool.get("parameters"),
                    "strict": tool.get("strict"),
                }
            )
    tool_choice = body.get("tool_choice")
    instructions = body.get("instructions")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": created if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str | list) else None,
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": None,
        "store": body.get("store") is not False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": tool_choice if tool_choice in ("auto", "none", "required") else "auto",
        "tools": tools,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _response_usage(response) if response is not None else None,
        "user": None,
    }


def _response_events(
    response_id: str,
    created: float,
    model: str,
    body: Json,
    output: list[Json],
    response: LLMResponse,
    final: Json,
) -> Iterator[Json]:
    """The event sequence the Responses API streams, as the openai SDK parses it."""
    seq = 0

    def event(kind: str, **fields: Any) -> Json:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **fields}
        seq += 1
        return data

    in_progress = _response_object(response_id, created, model, body, "in_progress", [], None)
    yield event("response.created", response=in_progress)
    yield event("response.in_progress", response=in_progress)
    for output_index, item in enumerate(output):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", "content": []},
            )
            empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part=empty_part,
            )
            for piece in split_text(text):
                yield event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part=item["content"][0],
            )
        else:
            yield event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in split_text(item["arguments"]):
                yield event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=output_index,
                    delta=piece,
                )
            yield event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=item["name"],
                arguments=item["arguments"],
            )
        yield event("response.output_item.done", output_index=output_index, item=item)
    yield event("response.completed", response=final)


def _model_object(name: str) -> Json:
    return {"id": name, "object": "model", "created": 0, "owned_by": "agent-runtime-core"}


OpenAICompatibleServer._handler_class = _Handler
