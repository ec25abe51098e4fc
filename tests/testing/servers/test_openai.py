"""OpenAICompatibleServer driven by the real openai SDK: chat completions, Responses API, errors."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from agent_runtime_core.errors import UserError
from agent_runtime_core.testing.scripted import (
    ScriptedModel,
    ScriptRequest,
    call_tool,
    call_tools,
    fail,
    reply,
)
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer

KEY = "sk-test-loopback-0123456789"

CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": False,
    }
]


def quote_tool(request: ScriptRequest) -> str:
    return f"The weather: {request.tool_results[-1].content}."


@pytest.fixture
def weather_server() -> Iterator[OpenAICompatibleServer]:
    model = ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply(quote_tool)])
    with OpenAICompatibleServer(model) as server:
        yield server


@pytest.fixture
def sync_client(weather_server: OpenAICompatibleServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=weather_server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def raw_post(
    server: OpenAICompatibleServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


# -- chat completions ---------------------------------------------------------------------------


def test_chat_completion_tool_call_then_answer(
    weather_server: OpenAICompatibleServer, sync_client: openai.OpenAI
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    raw = sync_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages, tools=CHAT_TOOLS
    )
    ChatCompletion.model_validate(raw.http_response.json())  # strict shape check
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id == "call_0_get_weather"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert (
        first.usage is not None
        and first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    )

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = sync_client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=CHAT_TOOLS
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The weather: sunny."
    assert second.model == "gpt-4o"
    assert weather_server.model_calls == 2
    seen = weather_server.model.requests[0]
    assert seen.tool_names == ["get_weather"] and seen.model == "gpt-4o"


def test_chat_stream_splits_tool_calls_and_reports_usage() -> None:
    model = ScriptedModel(
        [
            call_tools(
                [
                    call_tool("get_weather", {"city": "Paris"}),
                    call_tool("get_weather", {"city": "Rome"}),
                ]
            )
        ]
    )
    with (
        OpenAICompatibleServer(model) as server,
        openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client,
    ):
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Two cities"}],
            tools=CHAT_TOOLS,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.to_dict())
    argument_pieces: dict[int, list[str]] = {}
    ids: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                if delta.id:
                    ids[delta.index] = delta.id
                if delta.function and delta.function.arguments:
                    argument_pieces.setdefault(delta.index, []).append(delta.function.arguments)
    assert ids == {0: "call_0_get_weather", 1: "call_0_get_weather_2"}
    assert all(len(pieces) > 1 for pieces in argument_pieces.values()), (
        "arguments arrive over several chunks"
    )
    assert json.loads("".join(argument_pieces[1])) == {"city": "Rome"}
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"]
    assert (
        chunks[-1].choices == []
        and chunks[-1].usage is not None
        and chunks[-1].usage.completion_tokens > 0
    )


def test_chat_stream_helper_reassembles_text_and_tool_calls(sync_client: openai.OpenAI) -> None:
    with sync_client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Paris?"}],
        tools=CHAT_TOOLS,
        stream_options={"include_usage": True},
    ) as stream:
        for _ in stream:
            pass
        completion = stream.get_final_completion()
    call = completion.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_0_get_weather",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert completion.usage is not None and completion.usage.prompt_tokens > 0

    messages = [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "rain"},
    ]
    texts = []
    with sync_client.chat.completions.stream(model="gpt-4o", messages=messages) as stream:
        for event in stream:
            if event.type == "content.delta":
                texts.append(event.delta)
        final = stream.get_final_completion()
    assert len(texts) > 1
    assert "".join(texts) == final.choices[0].message.content == "The weather: rain."


async def test_ten_concurrent_conversations_at_different_points_get_their_turn() -> None:
    script = [reply(lambda req, i=i: f"turn {i} for {req.last_user_message}") for i in range(5)]
    with OpenAICompatibleServer(ScriptedModel(script)) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key=KEY, max_retries=0
        ) as client:

            async def converse(n: int) -> str | None:
                messages: list[Any] = [{"role": "user", "content": f"conversation {n}"}]
                messages += [{"role": "assistant", "content": f"earlier {k}"} for k in range(n % 5)]
                if n % 2:
                    completion = await client.chat.completions.create(
                        model="gpt-4o", messages=messages
                    )
                    return completion.choices[0].message.content
                response = await client.responses.create(model="gpt-4o", input=messages)
                return response.output_text

            answers = await asyncio.gather(*(converse(n) for n in range(10)))
        assert answers == [f"turn {n % 5} for conversation {n}" for n in range(10)]
        assert server.model_calls == 10


# -- Responses API ------------------------------------------------------------------------------


def test_responses_function_call_round_trip(
    weather_server: OpenAICompatibleServer, sync_client: openai.OpenAI
) -> None:
    raw = sync_client.responses.with_raw_response.create(
        model="gpt-4o",
        input="Weather in Paris?",
        instructions="You are terse.",
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
    )
    Response.model_validate(raw.http_response.json())  # strict shape check
    first = raw.parse()
    assert first.status == "completed"
    [call] = first.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_0_get_weather",
        "get_weather",
        {"city": "Paris"},
    )
    assert first.usage is not None and first.usage.input_tokens > 0

    request = weather_server.model.requests[0]
    assert request.messages[0] == {"role": "system", "content": "You are terse."}
    assert request.tools == [
        {
            "type": "function",
            "function": {k: v for k, v in RESPONSES_TOOLS[0].items() if k != "type"},
        }
    ]

    second = sync_client.responses.create(
        model="gpt-4o",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            call.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
    )
    assert second.output_text == "The weather: sunny."
    assert weather_server.model.requests[1].tool_results[0].name == "get_weather"


def test_responses_previous_response_id_continues_the_conversation(
    sync_client: openai.OpenAI,
) -> None:
    first = sync_client.responses.create(model="gpt-4o", input="Weather?", tools=RESPONSES_TOOLS)  # type: ignore[arg-type]
    call = first.output[0]
    assert call.type == "function_call"
    second = sync_client.responses.create(
        model="gpt-4o",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "windy"}],
    )
    assert second.output_text == "The weather: windy."
    with pytest.raises(openai.BadRequestError, match="not found"):
        sync_client.responses.create(model="gpt-4o", previous_response_id="resp_nope", input="x")


async def test_responses_streaming_event_sequence(weather_server: OpenAICompatibleServer) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    async with openai.AsyncOpenAI(
        base_url=weather_server.base_url, api_key=KEY, max_retries=0
    ) as client:
        stream = await client.responses.create(
            model="gpt-4o", input="Paris?", tools=RESPONSES_TOOLS, stream=True
        )  # type: ignore[arg-type]
        events = [event async for event in stream]
        for event in events:
            adapter.validate_python(event.to_dict())  # strict shape check of every event
        assert [e.type for e in events] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
        assert [e.sequence_number for e in events] == list(range(len(events)))
        call = events[-1].response.output[0]  # type: ignore[union-attr]
        assert call.type == "function_call"

        async with client.responses.stream(
            model="gpt-4o",
            input=[
                {"role": "user", "content": "Paris?"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "foggy"},
            ],
            tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
        ) as text_stream:
            types, deltas = [], []
            async for event in text_stream:
                types.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = await text_stream.get_final_response()
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) > 1 and "".join(deltas) == "The weather: foggy."
    assert final.output_text == "The weather: foggy."
    assert final.usage is not None and final.usage.output_tokens > 0


# -- errors -------------------------------------------------------------------------------------


async def test_rate_limit_failure_then_success() -> None:
    with OpenAICompatibleServer([fail(429, "Slow down, please."), reply("done")]) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key=KEY, max_retries=0
        ) as client:
            messages: Any = [{"role": "user", "content": "q"}]
            with pytest.raises(openai.RateLimitError) as info:
                await client.chat.completions.create(model="gpt-4o", messages=messages)
            assert info.value.status_code == 429
            assert info.value.code == "rate_limit_exceeded"
            assert "Slow down, please." in info.value.message
            completion = await client.chat.completions.create(model="gpt-4o", messages=messages)
            assert completion.choices[0].message.content == "done"


async def test_sdk_retries_honour_retry_after() -> None:
    with OpenAICompatibleServer(
        [fail(503, "busy", retry_after=0.01), reply("recovered")]
    ) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key=KEY, max_retries=2
        ) as client:
            response = await client.responses.create(model="gpt-4o", input="q")
            assert response.output_text == "recovered"
        assert server.model_calls == 2
    # What lets the SDK wait the scripted time instead of its own backoff: the header it reads.
    with OpenAICompatibleServer([fail(503, "busy", retry_after=0.01)]) as server:
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
        assert info.value.code == 503 and info.value.headers["retry-after-ms"] == "10"
        info.value.close()


def test_bad_requests_get_json_errors_and_the_server_keeps_serving(
    weather_server: OpenAICompatibleServer, sync_client: openai.OpenAI
) -> None:
    status, body = raw_post(weather_server, "/v1/chat/completions", b"{not json")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error" and "JSON" in body["error"]["message"]

    status, body = raw_post(weather_server, "/v1/chat/completions", b"[1, 2]")
    assert status == 400 and "JSON object" in body["error"]["message"]

    status, body = raw_post(weather_server, "/v1/nowhere", b"{}")
    assert status == 404 and "error" in body

    with pytest.raises(openai.BadRequestError, match="messages"):
        sync_client.chat.completions.create(model="gpt-4o", messages=[])
    with pytest.raises(openai.BadRequestError, match="model"):
        sync_client.post(
            "/chat/completions",
            body={"messages": [{"role": "user", "content": "x"}]},
            cast_to=object,
        )
    with pytest.raises(openai.BadRequestError, match="input"):
        sync_client.post("/responses", body={"model": "gpt-4o", "input": 42}, cast_to=object)

    completion = sync_client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.tool_calls
    assert weather_server.model_calls == 1


def test_script_exhausted_is_a_clear_bad_request(sync_client: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    with pytest.raises(openai.BadRequestError, match="script exhausted.*turn 2") as info:
        sync_client.chat.completions.create(model="gpt-4o", messages=messages)
    assert info.value.code == "script_exhausted"


def test_models_endpoint(sync_client: openai.OpenAI) -> None:
    ids = [m.id for m in sync_client.models.list()]
    assert ids == ["gpt-4o", "gpt-4o-mini", "scripted-model"]
    assert sync_client.models.retrieve("gpt-4o").id == "gpt-4o"


def test_requests_are_recorded_without_the_api_key(
    weather_server: OpenAICompatibleServer, sync_client: openai.OpenAI
) -> None:
    sync_client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    [recorded] = weather_server.requests
    assert recorded.method == "POST" and recorded.path == "/v1/chat/completions"
    assert recorded.body["messages"] == [{"role": "user", "content": "hi"}]
    assert KEY not in repr(weather_server.requests) and KEY not in repr(weather_server)


def test_api_key_is_enforced_when_set() -> None:
    with OpenAICompatibleServer([reply("ok")], api_key=KEY) as server:
        with openai.OpenAI(
            base_url=server.base_url, api_key="sk-wrong-key-123456", max_retries=0
        ) as bad:
            with pytest.raises(openai.AuthenticationError) as info:
                bad.responses.create(model="gpt-4o", input="x")
            assert "sk-wrong" not in info.value.message
        with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as good:
            assert good.responses.create(model="gpt-4o", input="x").output_text == "ok"


# -- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", ""])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(UserError, match="loopback"):
        OpenAICompatibleServer([reply("x")], host=host)


def test_localhost_maps_to_127_0_0_1() -> None:
    with OpenAICompatibleServer([reply("x")], host="localhost") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.port > 0


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("openai-compatible")]


def test_stop_closes_idle_connections_and_joins_every_thread() -> None:
    server = OpenAICompatibleServer([reply("x")]).start()
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert _server_threads(), "a serving thread and a keep-alive connection thread"
        stopping = threading.Thread(target=server.stop)  # the client holds a keep-alive connection
        stopping.start()
        stopping.join(10)
        assert not stopping.is_alive(), "stop() waited on the idle keep-alive connection"
        assert _server_threads() == []
        assert not server.running
        server.stop()  # idempotent
    finally:
        client.close()


def test_stop_interrupts_a_request_waiting_out_its_delay() -> None:
    server = OpenAICompatibleServer([reply("late", delay=30)]).start()
    errors: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(
            base_url=server.base_url, api_key=KEY, max_retries=0, timeout=10
        ) as client:
            try:
                client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "x"}]
                )
            except openai.APIError as e:
                errors.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while server.model_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    caller.join(5)  # the delay is 30 s and the client's timeout 10 s: only an interruption ends it now
    assert not caller.is_alive()
    assert isinstance(errors[0], openai.APIConnectionError)
    assert not isinstance(errors[0], openai.APITimeoutError)
    assert _server_threads() == []


def test_a_server_can_be_restarted_on_a_new_port() -> None:
    server = OpenAICompatibleServer([reply("x")])
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    with server:
        first = server.port
    with server, openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        assert client.responses.create(model="gpt-4o", input="x").output_text == "x"
    assert isinstance(first, int)
