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

import json
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, cast

from agent_runtime_core.testing.scripted import (
    Failure,
    Resolved,
    ScriptedModel,
    ScriptEntry,
    ScriptExhaustedError,
)

from ._chat import chat_chunks, chat_completion, chat_tools
from ._http import (
    HTTPError,
    Json,
    LoopbackServer,
    RecordedRequest,
    RequestHandler,
    Stopping,
    required_str,
)
from ._responses import (
    response_events,
    response_object,
    response_output,
    responses_input,
    responses_tools,
)

__all__ = ["OpenAICompatibleServer", "RecordedRequest"]

_MAX_STORED_RESPONSES = 1000


class OpenAICompatibleServer(LoopbackServer):
    """Serves a `ScriptedModel` over HTTP on 127.0.0.1 (or another loopback address).

    Use it as a context manager, or call `start()` and `stop()`. `stop()` closes every connection
    and joins every thread it started.
    """

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
        super().__init__(host=host, port=port, api_key=api_key)
        names = list(dict.fromkeys([*model_names, self.model.name]))
        self.model_names: list[str] = names
        """Model ids listed by `GET /v1/models`."""
        self._model_calls = 0
        self._conversations: OrderedDict[str, list[Json]] = OrderedDict()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OpenAICompatibleServer {self.base_url if self.running else self.host} {state} calls={self.model_calls}>"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: what OpenAI clients take as `base_url`."""
        return f"{self.url}/v1"

    @property
    def model_calls(self) -> int:
        """How many requests reached the model (failed ones included)."""
        with self._lock:
            return self._model_calls

    def reset(self) -> None:
        """Forget recorded requests, the call count and stored Responses-API conversations."""
        with self._lock:
            self._model_calls = 0
            self._conversations.clear()
        super().reset()

    # -- internals used by the handler --------------------------------------------------------

    def _resolve(self, messages: list[Json], tools: list[Json], model: str) -> Resolved:
        with self._lock:
            self._model_calls += 1
        try:
            resolved = self.model.resolve(messages, tools, model)
        except ScriptExhaustedError as e:
            raise HTTPError(
                400, str(e), code="script_exhausted", headers={"x-should-retry": "false"}
            ) from e
        except Exception as e:  # a bug in a callable turn: say so, and do not let the SDK retry it
            raise HTTPError(
                500,
                f"The scripted model raised {type(e).__name__}: {e}",
                type="server_error",
                code="script_error",
                headers={"x-should-retry": "false"},
            ) from e
        if resolved.delay and self._stopping.wait(resolved.delay):
            raise Stopping
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


def _failure_error(failure: Failure) -> HTTPError:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["retry-after-ms"] = str(int(failure.retry_after * 1000))
    return HTTPError(
        failure.status, failure.message, type=failure.type, code=failure.code, headers=headers
    )


class _OpenAIHandler(RequestHandler):
    """Chat Completions, Responses and Models, for an `OpenAICompatibleServer`."""

    @property
    def app(self) -> OpenAICompatibleServer:
        return cast(OpenAICompatibleServer, self.server.app)

    def _dispatch(self, method: str, route: str, body: Any) -> None:
        routes = {
            "/chat/completions": ("POST", self._chat_completions),
            "/responses": ("POST", self._responses),
            "/models": ("GET", None),
        }
        if route.startswith("/models/") and method == "GET":
            name = route[len("/models/") :]
            if name not in self.app.model_names:
                raise HTTPError(404, f"The model '{name}' does not exist.", code="model_not_found")
            self._send_json(200, _model_object(name))
            return
        if route not in routes:
            raise HTTPError(
                404, f"Unknown endpoint {method} {self.path.split('?', 1)[0]}.", code="unknown_url"
            )
        expected, handler = routes[route]
        if method != expected:
            raise HTTPError(
                405, f"{route} takes {expected}, not {method}.", code="method_not_allowed"
            )
        if handler is None:
            names = self.app.model_names
            self._send_json(200, {"object": "list", "data": [_model_object(n) for n in names]})
            return
        if not isinstance(body, dict):
            raise HTTPError(400, "The request body must be a JSON object.")
        handler(body)

    # -- chat completions ---------------------------------------------------------------------

    def _chat_completions(self, body: Json) -> None:
        model = required_str(body, "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(
                400, "'messages' must be a non-empty array of message objects.", param="messages"
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise HTTPError(
                    400,
                    f"'messages[{i}]' must be an object with a string 'role'.",
                    param=f"messages[{i}]",
                )
        tools = chat_tools(body.get("tools"))
        stream = body.get("stream") is True
        stream_options = body.get("stream_options")
        include_usage = (
            stream
            and isinstance(stream_options, dict)
            and stream_options.get("include_usage") is True
        )
        resolved = self.app._resolve(messages, tools, model)
        response = resolved.result()
        completion_id = f"chatcmpl-{self.app._next_id():08d}"
        created = int(time.time())
        fault = self.app._take_fault()
        if not stream:
            body = chat_completion(completion_id, created, model, response)
            if fault is not None:
                self._send_broken_json(fault, body)
                return
            self._send_json(200, body)
            return
        events = [
            f"data: {json.dumps(chunk)}\n\n"
            for chunk in chat_chunks(completion_id, created, model, response, include_usage)
        ]
        self._send_sse(events + ["data: [DONE]\n\n"], fault)

    # -- responses ----------------------------------------------------------------------------

    def _responses(self, body: Json) -> None:
        app = self.app
        model = required_str(body, "model")
        previous_id = body.get("previous_response_id")
        prior: list[Json] = []
        if previous_id is not None:
            if not isinstance(previous_id, str) or (stored := app._recall(previous_id)) is None:
                raise HTTPError(
                    400,
                    f"Previous response with id '{previous_id}' not found.",
                    param="previous_response_id",
                )
            prior = stored
        raw_input = body.get("input")
        if raw_input is None and not prior:
            raise HTTPError(400, "Missing required parameter: 'input'.", param="input")
        conversation = prior + responses_input(raw_input)
        messages = list(conversation)
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            messages.insert(0, {"role": "system", "content": instructions})
        elif isinstance(instructions, list):
            messages[:0] = responses_input(instructions)
        if not messages:
            raise HTTPError(400, "'input' must not be empty.", param="input")
        tools_in = body.get("tools")
        resolved = app._resolve(messages, responses_tools(tools_in), model)
        response = resolved.result()
        response_id = f"resp_{app._next_id():08d}"
        app._remember(response_id, [*conversation, response.message])
        output = response_output(response_id, response)
        created = time.time()
        final = response_object(response_id, created, model, body, "completed", output, response)
        if body.get("stream") is not True:
            self._send_json(200, final)
            return
        self._start_sse()
        for event in response_events(response_id, created, model, body, output, response, final):
            self._write_chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
        self._end_sse()


def _model_object(name: str) -> Json:
    return {"id": name, "object": "model", "created": 0, "owned_by": "agent-runtime-core"}


OpenAICompatibleServer._handler_class = _OpenAIHandler
