"""AG-UI over HTTP, checked with ag-ui-protocol's own models: the mapping from the grammar,
joining and resuming a run by its runId (each event once, what was open re-opened), interrupts
answered with resume entries, failures, cancellation, errors and per-key isolation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import httpx
from ag_ui.core import Event as AguiEvent
from pydantic import TypeAdapter

from agent_runtime_core import EventType
from agent_runtime_core.events import Event
from agent_runtime_core.serve._agui import AguiMapper

from .conftest import KEY_A, KEY_B, Served, SSEMessage, sse_messages

VALIDATE = TypeAdapter(AguiEvent)


def run_input(run_id: str | None = None, thread_id: str = "thread-1", **extra: Any) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": run_id or str(uuid.uuid4()),
        "messages": [{"id": "m1", "role": "user", "content": "What's the weather in Paris?"}],
        **extra,
    }


async def agui(client: httpx.AsyncClient, agent: str, body: dict[str, Any], *, stop_after: int | None = None,
               headers: dict[str, str] | None = None) -> list[SSEMessage]:
    got: list[SSEMessage] = []
    async with client.stream("POST", f"/agui/{agent}", json=body, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        async for message in sse_messages(response):
            if not message.data:
                continue
            VALIDATE.validate_json(message.data)  # every event is a valid AG-UI event
            got.append(message)
            if stop_after is not None and len(got) >= stop_after:
                break
    return got


def types(messages: list[SSEMessage]) -> list[str]:
    return [m.json()["type"] + (f"({m.json()['name']})" if m.json()["type"] == "CUSTOM" else "") for m in messages]


CHATTY = [
    "RUN_STARTED", "STEP_STARTED", "CUSTOM(llm.call.started)", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "CUSTOM(llm.call.completed)",
    "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT", "CUSTOM(checkpoint)",
    "STEP_FINISHED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED",
]


async def test_a_run_maps_to_ag_ui_events(served: Served) -> None:
    body = run_input()
    messages = await agui(served.client(), "chatty", body)
    assert types(messages) == CHATTY
    events = [m.json() for m in messages]
    assert events[0] == {"type": "RUN_STARTED", "threadId": "thread-1", "runId": body["runId"], "timestamp": events[0]["timestamp"]}
    text = "".join(e["delta"] for e in events[4:7])
    assert text == "Let me check."
    start = events[9]
    assert start["toolCallName"] == "get_weather" and start["toolCallId"] == "call-1" and start["parentMessageId"] == events[3]["messageId"]
    assert json.loads(events[10]["delta"]) == {"city": "Paris"}
    assert events[12]["content"] == "sunny" and events[12]["toolCallId"] == "call-1"
    assert events[16]["delta"] == "It is sunny in Paris."
    assert events[-1]["result"] == {"response": "It is sunny in Paris."}
    assert events[-1]["usage"] == [{"model": "scripted", "inputTokens": 5, "outputTokens": 3, "totalTokens": 8}]
    # Ids are <seq>:<index>, in order.
    ids = [tuple(map(int, (m.id or "").split(":"))) for m in messages]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_the_same_run_id_joins_the_run_and_last_event_id_resumes_it(served: Served) -> None:
    client = served.client()
    body = run_input()
    full = await agui(client, "chatty", body)
    again = await agui(client, "chatty", body)  # no second run: the same events
    assert [m.data for m in again] == [m.data for m in full]
    assert len((await client.get("/runs")).json()["runs"]) == 1
    # Cut inside the streamed message (after its second token), resume from there.
    cut = full[5]
    resumed = await agui(client, "chatty", body, headers={"Last-Event-ID": cut.id or ""})
    # What was open is opened again (without ids), then every later event once.
    assert types(resumed)[:3] == ["RUN_STARTED", "STEP_STARTED", "TEXT_MESSAGE_START"]
    assert [m.id for m in resumed[:3]] == [None, None, None]
    assert [m.data for m in resumed[:3]] == [full[0].data, full[1].data, full[3].data]
    assert [m.data for m in resumed[3:]] == [m.data for m in full[6:]]
    # After the end: the end again, framed.
    tail = await agui(client, "chatty", body, headers={"Last-Event-ID": full[-1].id or ""})
    assert types(tail) == ["RUN_STARTED", "RUN_FINISHED"]


async def test_a_live_run_resumed_mid_way_gets_every_later_event_once(served: Served) -> None:
    client = served.client()
    body = run_input(metadata=None)
    body["forwardedProps"] = {}
    first = await agui(client, "paced", body, stop_after=5)
    record = served.app.state.serve.runs.listed(served.app.state.api_keys.owner(f"Bearer {KEY_A}"))[0]
    rest = await agui(client, "paced", body, headers={"Last-Event-ID": first[-1].id or ""})
    assert types(rest)[0] == "RUN_STARTED" and rest[0].id is None
    seen = [m.id for m in first + rest[1:]]
    assert len(seen) == len(set(seen))
    stored = await served.runner.event_bus.get_events(record.run_id)
    assert len(seen) == len(stored)  # run.started, 20 progress (CUSTOM), run.succeeded: one each
    assert types(rest)[-1] == "RUN_FINISHED"


async def test_an_interrupt_is_answered_with_a_resume_entry(served: Served) -> None:
    client = served.client()
    first = await agui(client, "asks", run_input())
    finished = first[-1].json()
    assert finished["type"] == "RUN_FINISHED" and finished["outcome"]["type"] == "interrupt"
    (interrupt,) = finished["outcome"]["interrupts"]
    assert interrupt["message"] == "Send the email to bob?" and interrupt["toolCallId"] == "call-ask"
    answer = run_input(resume=[{"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}])
    second = await agui(client, "asks", answer)
    assert types(second) == ["RUN_STARTED", "TOOL_CALL_RESULT", "RUN_FINISHED"]
    assert second[0].json()["runId"] == answer["runId"]
    assert second[-1].json()["result"] == {"answer": {"approved": True}}
    again = await client.post("/agui/asks", json=run_input(resume=answer["resume"]))
    assert again.status_code == 409
    other_key = await served.client(KEY_B).post("/agui/asks", json=run_input(resume=answer["resume"]))
    assert other_key.status_code == 404


async def test_a_refused_answer_leaves_the_run_id_free_for_a_retry(served: Served) -> None:
    client = served.client()
    first = await agui(client, "asks", run_input())
    (interrupt,) = first[-1].json()["outcome"]["interrupts"]
    retry_id = str(uuid.uuid4())
    too_big = {"interruptId": interrupt["id"], "status": "resolved", "payload": {"note": "x" * 1_000_001}}
    refused = await client.post("/agui/asks", json=run_input(retry_id, resume=[too_big]))
    assert refused.status_code == 422 and refused.json()["error"]["type"] == "invalid_answer"
    # The same runId with an answer that fits resumes the run (it used to replay nothing).
    answer = {"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}
    second = await agui(client, "asks", run_input(retry_id, resume=[answer]))
    assert types(second) == ["RUN_STARTED", "TOOL_CALL_RESULT", "RUN_FINISHED"]
    assert second[-1].json()["result"] == {"answer": {"approved": True}}


async def test_failures_and_cancellations_end_the_ag_ui_run(served: Served) -> None:
    client = served.client()
    failed = await agui(client, "fails", run_input())
    assert types(failed) == ["RUN_STARTED", "STEP_STARTED", "STEP_FINISHED", "RUN_ERROR"]
    assert failed[-1].json()["code"] == "NonRetriableError" and failed[-1].json()["message"] == "the database is gone"

    body = run_input()

    async def cancel_when_started() -> None:
        async with asyncio.timeout(30):
            while not (runs := (await client.get("/runs")).json()["runs"]) or runs[0]["agent_key"] != "waits":
                await asyncio.sleep(0.02)
        await client.post(f"/runs/{runs[0]['run_id']}/cancel")

    cancelled, _ = await asyncio.gather(agui(client, "waits", body), cancel_when_started())
    assert types(cancelled) == ["RUN_STARTED", "STEP_STARTED", "STEP_FINISHED", "RUN_FINISHED"]
    assert cancelled[-1].json()["outcome"] == {"type": "cancelled"}


async def test_bad_ag_ui_requests_are_refused(served: Served) -> None:
    client = served.client()
    response = await client.post("/agui/chatty", json={"threadId": "t"})
    assert response.status_code == 422 and "RunAgentInput" in response.json()["error"]["message"]
    assert (await client.post("/agui/nobody", json=run_input())).status_code == 404
    bad_id = await client.post("/agui/chatty", json=run_input(), headers={"Last-Event-ID": "7"})
    assert bad_id.status_code == 422
    body = run_input()
    await agui(client, "chatty", body)
    taken = await client.post("/agui/paced", json=body)
    assert taken.status_code == 409
    # Another key's identical runId is another run altogether.
    other = await agui(served.client(KEY_B), "paced", body | {"messages": []})
    assert types(other)[-1] == "RUN_FINISHED" and other[-1].json()["result"] == {"count": 20}


# Each passes `str.isdigit()` yet makes `int()` raise, or is no count at all.
BAD_COUNTS = ["\u00b2", "9" * 5000, "-1", "", "\u0661"]


async def test_a_last_event_id_that_is_not_seq_colon_index_is_a_422(served: Served) -> None:
    client = served.client()
    body = run_input()
    await agui(client, "chatty", body)
    for raw in BAD_COUNTS:
        for last_event_id in (f"{raw}:0", f"3:{raw}"):
            response = await client.post("/agui/chatty", json=body, headers={"Last-Event-ID": last_event_id.encode("utf-8")})
            assert response.status_code == 422, (last_event_id[:20], response.text)
            assert response.json()["error"]["type"] == "invalid_resume_point"
    latin1 = await client.post("/agui/chatty", json=body, headers={"Last-Event-ID": b"\xb2:0"})
    assert latin1.status_code == 422
    assert len(await agui(client, "chatty", body, headers={"Last-Event-ID": "0003:0"})) > 0


async def test_an_interrupt_id_whose_seq_is_not_a_count_is_not_found(served: Served) -> None:
    client = served.client()
    first = await agui(client, "asks", run_input())
    (interrupt,) = first[-1].json()["outcome"]["interrupts"]
    run_part = interrupt["id"].rpartition("@")[0]
    for raw in BAD_COUNTS:
        entry = {"interruptId": f"{run_part}@{raw}", "status": "resolved", "payload": {"approved": True}}
        response = await client.post("/agui/asks", json=run_input(resume=[entry]))
        assert response.status_code == 404, (raw[:20], response.text)
        assert response.json()["error"]["type"] == "interrupt_not_found"


def test_the_mapper_closes_what_a_failed_attempt_left_open() -> None:
    mapper = AguiMapper("t", "r", "run-1")
    grammar = [
        (EventType.RUN_STARTED, {"agent_key": "a", "attempt": 1}, None),
        (EventType.STEP_STARTED, {"name": "s"}, None),
        (EventType.ASSISTANT_DELTA, {"text": "Hel"}, "llm"),
        (EventType.RUN_RETRYING, {"attempt": 1, "error": {}, "delay_seconds": 0}, None),
        (EventType.RUN_STARTED, {"agent_key": "a", "attempt": 2}, None),
        (EventType.ASSISTANT_MESSAGE, {"content": "Hello"}, None),
        (EventType.RUN_SUCCEEDED, {"final_output": {}}, None),
    ]
    out = []
    for seq, (type_, payload, span) in enumerate(grammar, 1):
        out += mapper.feed(Event("run-1", seq, type_, 1.0, payload, None, span))
    names = [e.type.value + (f"({e.name})" if e.type.value == "CUSTOM" else "") for e in out]  # type: ignore[attr-defined]
    assert names == [
        "RUN_STARTED", "STEP_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "STEP_FINISHED", "CUSTOM(run.retrying)", "CUSTOM(run.started)", "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED",
    ]
    assert mapper.feed(Event("run-1", 8, EventType.PROGRESS_UPDATE, 1.0, {})) == []  # finished


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_values_that_are_not_json_become_json_data_not_their_repr() -> None:
    # An in-process bus hands the mapper the values an agent gave: a dataclass is data, not text.
    mapper = AguiMapper("t", "r", "run-1")
    out = mapper.feed(Event("run-1", 1, EventType.RUN_STARTED, 1.0, {"agent_key": "a", "attempt": 1}))
    out += mapper.feed(Event("run-1", 2, EventType.PROGRESS_UPDATE, 1.0, {"where": Point(1, 2), "path": (3, 4)}))
    out += mapper.feed(Event("run-1", 3, EventType.RUN_SUCCEEDED, 1.0, {"final_output": {"at": Point(5, 6)}}))
    custom = json.loads(out[1].model_dump_json(by_alias=True))
    assert custom["value"]["payload"] == {"where": {"x": 1, "y": 2}, "path": [3, 4]}
    assert json.loads(out[-1].model_dump_json(by_alias=True))["result"] == {"at": {"x": 5, "y": 6}}
    asking = AguiMapper("t", "r", "run-2")
    asking.feed(Event("run-2", 1, EventType.RUN_STARTED, 1.0, {"agent_key": "a", "attempt": 1}))
    (finished,) = asking.feed(Event("run-2", 2, EventType.RUN_INTERRUPTED, 1.0, {"interrupt": {"question": "ok?", "near": Point(7, 8)}}))
    interrupt = json.loads(finished.model_dump_json(by_alias=True))["outcome"]["interrupts"][0]
    assert interrupt["metadata"] == {"interrupt": {"question": "ok?", "near": {"x": 7, "y": 8}}}
