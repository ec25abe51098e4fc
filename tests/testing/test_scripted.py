"""ScriptedModel and ScriptedLLMClient: turn selection, helpers, failures, usage, in-process client."""

from __future__ import annotations

import asyncio
import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agent_runtime_core.context import RunContext, _current_context
from agent_runtime_core.errors import NonRetriableError
from agent_runtime_core.events.base import Event, EventType
from agent_runtime_core.llm.base import LLMClient, StreamChunkType
from agent_runtime_core.llm.openai import LLMError
from agent_runtime_core.testing.scripted import (
    ScriptedFailure,
    ScriptedLLMClient,
    ScriptedModel,
    ScriptExhaustedError,
    ScriptRequest,
    ToolCall,
    call_tool,
    call_tools,
    fail,
    reply,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool_turn(call_id: str, name: str, args: str, result: str) -> list[dict[str, Any]]:
    """An assistant message calling one tool, and the tool's answer."""
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def weather_model() -> ScriptedModel:
    return ScriptedModel(
        [
            call_tool("get_weather", {"city": "Paris"}),
            reply(lambda req: f"It is {req.tool_results[-1].content} in Paris."),
        ]
    )


def test_turn_is_chosen_from_the_conversation_not_the_call_count() -> None:
    model = weather_model()
    first = model.respond([user("Weather in Paris?")], tools=[WEATHER_TOOL], model="gpt-4o")
    assert first.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0_get_weather",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert first.finish_reason == "tool_calls"
    assert first.model == "gpt-4o"

    conversation = [
        user("Weather in Paris?"),
        *tool_turn("call_0_get_weather", "get_weather", "{}", "sunny"),
    ]
    second = model.respond(conversation)
    assert second.message == {"role": "assistant", "content": "It is sunny in Paris."}
    assert second.finish_reason == "stop"
    assert second.model == "scripted-model"

    # The same first request again plays turn 0 again: a pure function of the conversation.
    again = model.respond([user("Weather in Paris?")])
    assert again.tool_calls[0]["function"]["name"] == "get_weather"
    assert model.calls == 3
    assert [r.turn_index for r in model.requests] == [0, 1, 0]


def test_a_new_user_message_starts_the_script_again_by_default() -> None:
    model = weather_model()
    history = [user("Paris?"), *tool_turn("call_0_get_weather", "get_weather", "{}", "sunny")]
    history.append({"role": "assistant", "content": "It is sunny in Paris."})
    follow_up = model.respond([*history, user("And now?")])
    assert follow_up.tool_calls, "a new user message plays turn 0 (a tool call) again"
    # The id still differs from the earlier call in the same conversation.
    assert follow_up.tool_calls[0]["id"] == "call_2_get_weather"


def test_count_turns_from_start_walks_the_script_across_user_messages() -> None:
    model = ScriptedModel([reply("hello"), reply("goodbye")], count_turns_from="start")
    assert model.respond([user("hi")]).content == "hello"
    history = [user("hi"), {"role": "assistant", "content": "hello"}, user("bye")]
    assert model.respond(history).content == "goodbye"
    with pytest.raises(ValueError, match="count_turns_from"):
        ScriptedModel([], count_turns_from="middle")  # type: ignore[arg-type]


def test_concurrent_threads_at_different_points_of_one_script_get_their_own_turn() -> None:
    model = ScriptedModel(
        [reply(lambda req, i=i: f"turn {i}: {req.last_user_message}") for i in range(5)]
    )

    def conversation(n: int) -> list[dict[str, Any]]:
        depth = n % 5
        messages = [user(f"conversation {n}")]
        messages += [{"role": "assistant", "content": f"earlier {k}"} for k in range(depth)]
        return messages

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda n: model.respond(conversation(n)).content, range(20)))
    assert answers == [f"turn {n % 5}: conversation {n}" for n in range(20)]
    assert model.calls == 20


def test_exhausted_script_names_the_turn_and_the_script_length() -> None:
    model = ScriptedModel([reply("only one")])
    messages = [
        user("q"),
        {"role": "assistant", "content": "only one"},
        {"role": "tool", "tool_call_id": "x", "content": ""},
    ]
    with pytest.raises(ScriptExhaustedError, match=r"turn 1 but the script has 1 turn") as info:
        model.respond(messages)
    assert info.value.turn_index == 1
    assert info.value.script_length == 1
    assert isinstance(info.value, NonRetriableError)


def test_parallel_tool_calls_get_deterministic_unique_ids() -> None:
    model = ScriptedModel(
        [
            call_tools(
                [
                    call_tool("get_weather", {"city": "Paris"}),
                    ("get_weather", {"city": "Rome"}),
                    ToolCall("search", {"q": "x"}, id="my-id"),
                ],
                text="Checking.",
            )
        ]
    )
    response = model.respond([user("go")])
    assert [c["id"] for c in response.tool_calls] == [
        "call_0_get_weather",
        "call_0_get_weather_2",
        "my-id",
    ]
    assert [json.loads(c["function"]["arguments"]) for c in response.tool_calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
        {"q": "x"},
    ]
    assert response.content == "Checking."
    assert response.finish_reason == "tool_calls"


def test_usage_is_ceil_of_characters_over_four() -> None:
    model = ScriptedModel([reply("abcde")])
    response = model.respond([{"role": "system", "content": "123456789"}, user("hello")])
    assert response.usage.input_tokens == math.ceil(14 / 4)
    assert response.usage.output_tokens == math.ceil(5 / 4)
    tool_model = ScriptedModel([call_tool("f", {"a": 1})])
    usage = tool_model.respond([user("x")]).usage
    assert usage.output_tokens == math.ceil((len("f") + len('{"a":1}')) / 4)


def test_fail_fails_the_first_attempt_and_the_retry_gets_the_next_turn() -> None:
    model = ScriptedModel([fail(429, "Slow down"), reply("ok")])
    with pytest.raises(ScriptedFailure) as info:
        model.respond([user("q")])
    error = info.value
    assert isinstance(error, LLMError)
    assert error.status_code == 429
    assert error.retriable is True
    assert error.code == "rate_limit_exceeded"
    assert "Slow down" in str(error)
    assert model.respond([user("q")]).content == "ok"
    assert [r.attempt for r in model.requests] == [1, 2]
    # A different conversation at the same turn fails once too.
    with pytest.raises(ScriptedFailure):
        model.respond([user("another")])


def test_fail_times_and_permanent_failures() -> None:
    model = ScriptedModel([fail(500, "down", times=2), fail(400, "bad"), reply("finally")])
    statuses = []
    for _ in range(3):
        with pytest.raises(ScriptedFailure) as info:
            model.respond([user("q")])
        statuses.append(info.value.status_code)
    assert statuses == [500, 500, 400]
    assert model.respond([user("q")]).content == "finally"
    assert model.turns == 1

    forever = ScriptedModel([fail(503, "gone", times=None)])
    for _ in range(3):
        with pytest.raises(ScriptedFailure):
            forever.respond([user("q")])

    trailing = ScriptedModel([fail(500, "once")])
    with pytest.raises(ScriptedFailure):
        trailing.respond([user("q")])
    with pytest.raises(ScriptExhaustedError, match="no turn follows"):
        trailing.respond([user("q")])


def test_callable_turn_sees_the_request() -> None:
    seen: list[ScriptRequest] = []

    def decide(request: ScriptRequest) -> Any:
        seen.append(request)
        if request.tool_results:
            return reply(f"{request.tool_results[0].name} said {request.tool_results[0]}")
        return call_tool("get_weather", {"city": request.last_user_message})

    model = ScriptedModel([decide, decide])
    first = model.respond(
        [{"role": "system", "content": "sys"}, user("Oslo")], tools=[WEATHER_TOOL], model="m1"
    )
    assert json.loads(first.tool_calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    second = model.respond([user("Oslo"), *tool_turn("c1", "get_weather", "{}", "snow")])
    assert second.content == "get_weather said snow"
    assert seen[0].tool_names == ["get_weather"]
    assert seen[0].model == "m1"
    assert seen[0].messages[0] == {"role": "system", "content": "sys"}
    assert seen[1].turn_index == 1
    assert model.requests[1].last_user_message == "Oslo"


def test_last_user_message_reads_content_parts() -> None:
    model = ScriptedModel([reply(lambda r: r.last_user_message.upper())])
    parts = {
        "role": "user",
        "content": [{"type": "text", "text": "ab"}, {"type": "text", "text": "cd"}],
    }
    assert model.respond([parts]).content == "ABCD"


def test_helpers_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="400-599"):
        fail(200, "not an error")
    with pytest.raises(TypeError):
        reply(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict"):
        call_tool("x", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delay"):
        reply("x", delay=-1)
    with pytest.raises(TypeError, match="call_tool"):
        call_tools([reply("no")])
    with pytest.raises(TypeError, match="Turn"):
        ScriptedModel(["just a string"])  # type: ignore[list-item]
    bad = ScriptedModel([lambda req: "not a turn"])  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return a Turn"):
        bad.respond([user("x")])


def test_reset_forgets_calls_and_attempts() -> None:
    model = ScriptedModel([fail(429, "x"), reply("ok")])
    with pytest.raises(ScriptedFailure):
        model.respond([user("q")])
    model.reset()
    assert model.calls == 0 and model.requests == []
    with pytest.raises(ScriptedFailure):
        model.respond([user("q")])


# -- ScriptedLLMClient -------------------------------------------------------------------------


async def test_client_generates_and_streams_like_any_llm_client() -> None:
    client = ScriptedLLMClient(weather_model())
    assert isinstance(client, LLMClient)
    first = await client.generate([user("Paris?")], tools=[WEATHER_TOOL])
    assert first.tool_calls[0]["id"] == "call_0_get_weather"
    assert first.model == "scripted-model"

    conversation = [user("Paris?"), *tool_turn("call_0_get_weather", "get_weather", "{}", "sunny")]
    chunks = [chunk async for chunk in client.stream(conversation)]
    deltas = [c.text for c in chunks if c.type is StreamChunkType.TEXT_DELTA]
    assert len(deltas) > 1
    assert "".join(deltas) == "It is sunny in Paris."
    assert chunks[-1].type is StreamChunkType.DONE
    assert (
        chunks[-1].response is not None and chunks[-1].response.content == "It is sunny in Paris."
    )

    tool_chunks = [c async for c in client.stream([user("Paris?")])]
    assert [c.type for c in tool_chunks] == [StreamChunkType.TOOL_CALL, StreamChunkType.DONE]
    assert tool_chunks[0].tool_call == first.tool_calls[0]


async def test_client_emits_llm_events_inside_a_run() -> None:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    ctx = RunContext(publish=publish, agent_key="t")
    token = _current_context.set(ctx)
    try:
        client = ScriptedLLMClient([reply("Hello there, world"), fail(503, "down", times=None)])
        _ = [c async for c in client.stream([user("hi")])]
        with pytest.raises(ScriptedFailure):
            await client.generate(
                [user("hi"), {"role": "assistant", "content": "Hello there, world"}]
            )
    finally:
        _current_context.reset(token)
    types = [e.type for e in events]
    assert types[0] is EventType.LLM_CALL_STARTED
    assert types.count(EventType.ASSISTANT_DELTA) == 3
    assert EventType.LLM_CALL_COMPLETED in types
    assert types[-2:] == [EventType.LLM_CALL_STARTED, EventType.LLM_CALL_FAILED]
    completed = next(e for e in events if e.type is EventType.LLM_CALL_COMPLETED)
    assert completed.payload["provider"] == "scripted"
    assert completed.payload["usage"] == {"input_tokens": 1, "output_tokens": 5}
    assert events[-1].payload["error"]["type"] == "ScriptedFailure"


async def test_delay_turns_are_cancellable() -> None:
    client = ScriptedLLMClient([reply("late", delay=30)])
    task = asyncio.create_task(client.generate([user("q")]))
    await asyncio.sleep(0.01)  # a blocking delay would have run the call to its end here
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_short_delays_are_waited() -> None:
    client = ScriptedLLMClient([reply("soon", delay=0.05)])
    task = asyncio.create_task(client.generate([user("q")]))
    await asyncio.sleep(0)  # without a delay the call ends in its first step
    assert not task.done()
    assert (await task).content == "soon"
