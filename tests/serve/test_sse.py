"""A run's events over SSE: framing, replay then live, resuming with Last-Event-ID or ?after=
(each event exactly once, in order), keep-alives, runs that outlive their clients, and many
subscribers on many runs at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from .conftest import Served, SSEMessage, sse_messages


async def read_stream(client: httpx.AsyncClient, run_id: str, *, stop_after: int | None = None, **kwargs: object) -> list[SSEMessage]:
    """The messages of a run's stream that carry an event (until it closes, or `stop_after`)."""
    got: list[SSEMessage] = []
    async with client.stream("GET", f"/runs/{run_id}/events", **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in sse_messages(response):
            if message.event is None:
                continue  # a keep-alive
            got.append(message)
            if stop_after is not None and len(got) >= stop_after:
                break
    return got


async def test_each_event_is_one_message_with_its_seq_type_and_json(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "chatty")
    messages = await read_stream(client, run_id)  # returns: the stream closed after the terminal event
    stored = await served.runner.event_bus.get_events(run_id)
    assert [m.id for m in messages] == [str(e.seq) for e in stored] == [str(i) for i in range(1, len(stored) + 1)]
    assert [m.event for m in messages] == [e.type.value for e in stored]
    assert [m.json() for m in messages] == [json.loads(json.dumps(e.to_dict())) for e in stored]
    assert messages[-1].event == "run.succeeded"
    assert {"tool.call", "tool.result", "assistant.delta", "checkpoint", "step.started"} <= {m.event for m in messages}


async def test_a_stream_cut_mid_run_resumes_with_each_event_once_in_order(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "paced", metadata={"count": 40, "pause": 0.02})
    first = await read_stream(client, run_id, stop_after=7)  # the client drops the connection
    assert [m.id for m in first] == [str(i) for i in range(1, 8)]
    second = await read_stream(client, run_id, stop_after=10, headers={"Last-Event-ID": first[-1].id or ""})
    third = await read_stream(client, run_id, params={"after": second[-1].id})
    seen = [int(m.id or 0) for m in first + second + third]
    stored = await served.runner.event_bus.get_events(run_id)
    assert seen == [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert third[-1].event == "run.succeeded" and len(stored) == 42
    # Last-Event-ID wins over ?after= (it is what a reconnecting EventSource sends).
    tail = await read_stream(client, run_id, headers={"Last-Event-ID": "40"}, params={"after": "3"})
    assert [m.id for m in tail] == ["41", "42"]
    # After the terminal event there is nothing more: the stream closes at once.
    assert await read_stream(client, run_id, headers={"Last-Event-ID": "42"}) == []


async def test_a_bad_resume_point_is_a_422(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "paced", metadata={"count": 1})
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [({"Last-Event-ID": "abc"}, {}), ({}, {"after": "-1"}), ({}, {"after": "9" * 30})]
    # `isdigit()` is True for these, and `int()` raises on them (a 500 before `parse_count`).
    for raw in ("\u00b2", "9" * 5000, "\u0661"):
        cases += [({}, {"after": raw}), ({"Last-Event-ID": raw.encode("utf-8")}, {})]
    cases.append(({"Last-Event-ID": b"\xb2"}, {}))  # '²' as the Latin-1 Starlette decodes headers with
    for headers, params in cases:
        response = await client.get(f"/runs/{run_id}/events", headers=headers, params=params)
        assert response.status_code == 422
        assert response.json()["error"]["type"] == "invalid_resume_point"


async def test_a_run_outlives_the_client_that_started_and_followed_it(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "paced", metadata={"count": 30, "pause": 0.02})
    await read_stream(client, run_id, stop_after=2)
    await client.aclose()  # the client is gone altogether
    other = served.client()
    body = await served.wait_status(other, run_id, "succeeded")
    assert body["result"] == {"final_output": {"count": 30}}
    replay = await read_stream(other, run_id)
    assert [int(m.id or 0) for m in replay] == list(range(1, 33))


async def test_an_idle_stream_gets_keep_alives_and_ends_with_the_run(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "waits")
    events: list[str] = []
    keepalives = 0
    async with client.stream("GET", f"/runs/{run_id}/events") as response:
        async for message in sse_messages(response):
            if message.event is not None:
                events.append(message.event)
            elif message.comments:
                keepalives += 1
                if keepalives == 2:  # the run has been idle for a while: stop it
                    assert (await client.post(f"/runs/{run_id}/cancel")).status_code == 202
    assert keepalives >= 2
    assert events == ["run.started", "step.started", "run.cancelled"]


async def test_a_stream_opened_before_the_run_has_events_waits_for_them(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "paced", metadata={"count": 3, "pause": 0})
    messages = await read_stream(client, run_id)
    assert [m.event for m in messages] == ["run.started", *["progress.update"] * 3, "run.succeeded"]


async def test_200_subscribers_on_20_concurrent_runs_see_no_gap_or_duplicate(served: Served) -> None:
    count = 25
    starter = served.client()
    run_ids = await asyncio.gather(
        *(served.start(starter, "paced", metadata={"count": count, "pause": 0.005}) for _ in range(20))
    )
    # The subscribers on connections of their own: a pooled connection left idle past the server's
    # keep-alive timeout (a slow, loaded machine) may be closed by it just as it is reused.
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    client = served.client(limits=limits, timeout=httpx.Timeout(60.0))

    async def subscribe(run_id: str, index: int) -> tuple[str, list[int]]:
        # Subscribers join at different points: from the start, or resuming after a few events.
        after = index % 3
        messages = await read_stream(client, run_id, params={"after": str(after)})
        assert all(json.loads(m.data)["run_id"] == run_id for m in messages)
        return run_id, [after, *(int(m.id or 0) for m in messages)]

    async with asyncio.timeout(120):
        results = await asyncio.gather(*(subscribe(run_ids[i % 20], i) for i in range(200)))
    for run_id, seqs in results:
        after, got = seqs[0], seqs[1:]
        assert got == list(range(after + 1, count + 3)), run_id
