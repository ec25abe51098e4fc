"""The run API over real HTTP (uvicorn on loopback, httpx): every route, every error, auth and
per-key isolation."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    configure,
)
from agent_runtime_core.errors import NonRetriableError, UserError
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.serve import ApiKeys, create_app
from agent_runtime_core.serve._runs import RunManager

from .conftest import AGENTS, KEY_A, KEY_B, Served, WaitingAgent, serve_app, sse_messages

ROUTES = [
    ("GET", "/agents"),
    ("GET", "/runs"),
    ("POST", "/runs"),
    ("GET", "/runs/x"),
    ("GET", "/runs/x/events"),
    ("POST", "/runs/x/cancel"),
    ("POST", "/runs/x/resume"),
    ("POST", "/agui/chatty"),
]


async def test_health_needs_no_key_and_every_other_route_does(served: Served) -> None:
    anonymous = served.client(key=None)
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    for key in (None, "wrong-key-" + "x" * 30):
        client = served.client(key=key)
        for method, path in ROUTES:
            response = await client.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in response.json()["error"]["message"]
    basic = served.client(key=None, headers={"Authorization": f"Basic {KEY_A}"})
    assert (await basic.get("/agents")).status_code == 401


async def test_agents_lists_the_servers_agents(served: Served) -> None:
    response = await served.client().get("/agents")
    assert response.status_code == 200
    assert response.json() == {"agents": sorted(a.key for a in AGENTS)}


async def test_a_run_is_started_followed_to_its_result_and_listed(served: Served) -> None:
    client = served.client()
    response = await client.post("/runs", json={"agent_key": "chatty", "input": {"messages": [{"role": "user", "content": "hi"}]}, "metadata": {"ticket": 7}})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"run_id", "status"} and body["status"] in ("queued", "running", "succeeded")
    run_id = body["run_id"]
    assert response.headers["location"].endswith(f"/runs/{run_id}")
    done = await served.wait_status(client, run_id, "succeeded")
    assert done["result"] == {"final_output": {"response": "It is sunny in Paris."}}
    assert done["agent_key"] == "chatty" and done["last_seq"] == len(await served.runner.event_bus.get_events(run_id))
    listed = (await client.get("/runs")).json()["runs"]
    assert [r["run_id"] for r in listed] == [run_id]
    # A string input is one user message.
    run_2 = await served.start(client, "paced", input="go", metadata={"count": 2, "pause": 0})
    assert (await served.wait_status(client, run_2, "succeeded"))["result"] == {"final_output": {"count": 2}}
    assert [r["run_id"] for r in (await client.get("/runs")).json()["runs"]] == [run_2, run_id]


async def test_a_failed_run_shows_its_error(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "fails")
    body = await served.wait_status(client, run_id, "failed")
    assert body["error"]["type"] == "NonRetriableError"
    assert body["error"]["message"] == "the database is gone"


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"{not json", 422, "not valid JSON"),
        (b"", 422, "empty"),
        (b"[1, 2]", 422, "must be a JSON object"),
        (b'{"input": "hi"}', 422, "`agent_key`"),
        (b'{"agent_key": 7}', 422, "`agent_key`"),
        (b'{"agent_key": "chatty", "input": 5}', 422, "`input`"),
        (b'{"agent_key": "chatty", "input": {"messages": [{"content": "x"}]}}', 422, "`input.messages[0]`"),
        (b'{"agent_key": "chatty", "metadata": [1]}', 422, "`metadata`"),
        (b'{"agent_key": "chatty", "surprise": 1}', 422, "'surprise'"),
        (b'{"agent_key": "nobody"}', 404, "No agent 'nobody'"),
        (b"[" * 200 + b"]" * 200, 422, "deeper than 128"),
        (b'{"agent_key": "chatty", "input": "\\udc80"}', 422, "surrogate"),
    ],
)
async def test_malformed_starts_are_refused_with_a_message(served: Served, content: bytes, status: int, fragment: str) -> None:
    response = await served.client().post("/runs", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]
    owner = served.app.state.api_keys.owner(f"Bearer {KEY_A}")
    assert served.app.state.serve.runs.listed(owner) == []


# Each passes `str.isdigit()` yet makes `int()` raise, or is no count at all: a 422, never a 500.
BAD_COUNTS = ["\u00b2", "9" * 5000, "-1", "", "\u0661", "1 2", "+3"]


@pytest.mark.parametrize("raw", BAD_COUNTS, ids=["superscript", "5000-digits", "negative", "empty", "arabic-indic", "inner-space", "plus"])
async def test_a_limit_that_is_not_a_count_is_a_422(served: Served, raw: str) -> None:
    response = await served.client().get("/runs", params={"limit": raw})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "invalid_limit"
    assert "from 1 to 1000" in response.json()["error"]["message"]


async def test_a_limit_of_ascii_digits_is_taken(served: Served) -> None:
    client = served.client()
    await served.start(client, "chatty")
    await served.start(client, "chatty")
    assert len((await client.get("/runs", params={"limit": "1"})).json()["runs"]) == 1
    assert len((await client.get("/runs", params={"limit": "0002"})).json()["runs"]) == 2


async def test_bodies_over_the_limit_get_413_declared_or_streamed(served: Served) -> None:
    client = served.client()
    big = b'{"agent_key": "chatty", "input": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post("/runs", content=big)
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["error"]["message"]

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(40):
            yield b"x" * 32768

    response = await client.post("/runs", content=chunks())
    assert response.status_code == 413
    just_under = b'{"agent_key": "paced", "input": "' + b"x" * (1024 * 1024 - 200) + b'", "metadata": {"count": 1}}'
    assert (await client.post("/runs", content=just_under)).status_code == 201


async def test_a_smaller_body_limit_is_configurable() -> None:
    app = create_app(AgentRunner(), agents=AGENTS, api_keys=[KEY_A], max_body_bytes=2048)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}) as client:
        response = await client.post("/runs", json={"agent_key": "chatty", "input": "y" * 3000})
        assert response.status_code == 413
        assert "2048 bytes" in response.json()["error"]["message"]


async def test_unknown_runs_routes_and_methods_are_json_errors(served: Served) -> None:
    client = served.client()
    for method, path in [("GET", "/runs/nope"), ("GET", "/runs/nope/events"), ("POST", "/runs/nope/cancel")]:
        response = await client.request(method, path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "run_not_found"
    response = await client.post("/runs/nope/resume", json={"answer": 1})
    assert response.status_code == 404
    response = await client.get("/nowhere")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    response = await client.delete("/runs")
    assert response.status_code == 405 and response.json()["error"]["type"] == "method_not_allowed"
    assert (await client.get("/runs", params={"limit": "0"})).status_code == 422


async def test_a_run_is_visible_only_to_the_key_that_started_it(served: Served) -> None:
    a, b = served.client(KEY_A), served.client(KEY_B)
    run_id = await served.start(a, "asks")
    await served.wait_status(a, run_id, "interrupted")
    for method, path, body in [
        ("GET", f"/runs/{run_id}", None),
        ("GET", f"/runs/{run_id}/events", None),
        ("POST", f"/runs/{run_id}/cancel", None),
        ("POST", f"/runs/{run_id}/resume", {"answer": "yes"}),
    ]:
        response = await b.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        # The same answer as for a run that does not exist: nothing tells b the run is there.
        expected = {"type": "run_not_found", "message": f"No run {run_id!r} visible to this API key; start one with POST /runs."}
        assert response.json() == {"error": expected}
    assert (await b.get("/runs")).json() == {"runs": []}
    assert (await a.get(f"/runs/{run_id}")).json()["status"] == "interrupted"  # b's resume did nothing


async def test_another_server_sharing_the_state_store_knows_the_owner(served: Served) -> None:
    a = served.client(KEY_A)
    run_id = await served.start(a, "chatty")
    await served.wait_status(a, run_id, "succeeded")
    runner = served.runner
    twin = create_app(AgentRunner(event_bus=runner.event_bus, state_store=runner.state_store), agents=AGENTS, api_keys=[KEY_A, KEY_B])
    async with serve_app(twin) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}) as a2:
            assert (await a2.get(f"/runs/{run_id}")).json()["status"] == "succeeded"
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_B}"}) as b2:
            assert (await b2.get(f"/runs/{run_id}")).status_code == 404


async def test_cancel_stops_a_run_and_reports_it(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "waits")
    response = await client.post(f"/runs/{run_id}/cancel")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    body = await served.wait_status(client, run_id, "cancelled")
    assert body["error"]["type"] == "RunCancelledError"
    again = await client.post(f"/runs/{run_id}/cancel")
    assert again.status_code == 202 and again.json() == {"run_id": run_id, "cancel_requested": False, "status": "cancelled"}


async def test_an_interrupted_run_is_resumed_once_with_the_answer(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "asks")
    body = await served.wait_status(client, run_id, "interrupted")
    assert body["interrupt"] == {"question": "Send the email to bob?", "tool_call_id": "call-ask"}
    assert (await client.post(f"/runs/{run_id}/resume", json={})).status_code == 422
    first = await client.post(f"/runs/{run_id}/resume", json={"answer": {"approved": True}})
    second = await client.post(f"/runs/{run_id}/resume", json={"answer": {"approved": False}})
    assert first.status_code == 202
    assert second.status_code == 409 and "not waiting" in second.json()["error"]["message"]
    done = await served.wait_status(client, run_id, "succeeded")
    assert done["result"] == {"final_output": {"answer": {"approved": True}}}
    conflict = await client.post(f"/runs/{run_id}/resume", json={"answer": 1})
    assert conflict.status_code == 409
    assert "run.succeeded" in conflict.json()["error"]["message"]
    types = [e.type.value for e in await served.runner.event_bus.get_events(run_id)]
    assert types == ["run.started", "tool.call", "run.interrupted", "run.started", "tool.result", "run.succeeded"]


async def test_resuming_a_running_run_is_a_conflict(served: Served) -> None:
    client = served.client()
    run_id = await served.start(client, "waits")
    response = await client.post(f"/runs/{run_id}/resume", json={"answer": "x"})
    assert response.status_code == 409
    await client.post(f"/runs/{run_id}/cancel")


# Shaped like no provider key, so only its registration (by `configure`) can mask it.
OPENAI_KEY = "test-openai-secret-" + "z" * 24


class LeakyAgent(AgentRuntime):
    """Fails with an error that quotes the model provider's key and the caller's API key, as a
    provider's or a user's exception text may."""

    key = "leaks"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        raise NonRetriableError(f"the provider refused key {OPENAI_KEY} (caller {KEY_A})")


async def test_keys_never_reach_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure(openai_api_key=OPENAI_KEY)
    app = create_app(AgentRunner(RunnerConfig(max_retries=0)), agents=[LeakyAgent()], api_keys=[KEY_A, KEY_B])
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}) as client:
        run_id = (await client.post("/runs", json={"agent_key": "leaks"})).json()["run_id"]
        async with client.stream("GET", f"/runs/{run_id}/events") as stream:
            failed = [m.data async for m in sse_messages(stream) if m.event == "run.failed"]
        body = (await client.get(f"/runs/{run_id}")).json()
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer not-the-key-{KEY_B}"}) as stranger:
            assert (await stranger.get("/runs")).status_code == 401
        listed = repr(app.state.serve.runs.listed(app.state.api_keys.owner(f"Bearer {KEY_A}")))
    assert body["status"] == "failed"
    assert body["error"]["message"] == "the provider refused key *** (caller ***)"
    assert len(failed) == 1 and "the provider refused key *** (caller ***)" in failed[0]
    assert "failed: the provider refused key *** (caller ***)" in caplog.text  # the runner's log
    shown = body["error"]["message"] + failed[0] + caplog.text + repr(app.state.api_keys) + listed
    for secret in (OPENAI_KEY, KEY_A, KEY_B):
        assert secret not in shown


def test_short_keys_are_refused_and_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="shorter than 16"):
        ApiKeys(["short"])
    monkeypatch.setenv("AGENT_RUNTIME_API_KEYS", f"{KEY_A}, {KEY_B}")
    keys = ApiKeys.from_settings()
    assert keys.enabled and repr(keys) == "ApiKeys(count=2)"
    assert keys.owner(f"Bearer {KEY_B}") not in (None, keys.owner(f"Bearer {KEY_A}"))
    assert keys.owner(f"Bearer {KEY_B}x") is None
    assert ApiKeys.from_settings([]).owner(None) == "local"


async def test_without_keys_the_server_is_open_on_loopback() -> None:
    app = create_app(AgentRunner(), agents=AGENTS, api_keys=[])
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/runs", json={"agent_key": "paced", "metadata": {"count": 1}})
        assert response.status_code == 201
        async with client.stream("GET", f"/runs/{response.json()['run_id']}/events") as stream:
            assert [m.event async for m in sse_messages(stream) if m.event][-1] == "run.succeeded"


async def test_cors_is_off_unless_origins_are_given(served: Served) -> None:
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    response = await served.client().options("/runs", headers=headers)
    assert "access-control-allow-origin" not in response.headers
    app = create_app(AgentRunner(), agents=AGENTS, api_keys=[KEY_A], cors_origins=["https://app.example"])
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        preflight = await client.options("/runs", headers=headers | {"Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options("/runs", headers=headers | {"Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


class CountingBus(InMemoryEventBus):
    """The in-memory bus, counting the calls in flight (each yields to the loop once, as a call
    over the network does)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def last_seq(self, run_id: str) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            return await super().last_seq(run_id)
        finally:
            self.in_flight -= 1


async def test_listing_runs_asks_the_bus_about_them_concurrently_and_in_order() -> None:
    bus = CountingBus()
    app = create_app(AgentRunner(RunnerConfig(max_retries=0), event_bus=bus), agents=AGENTS, api_keys=[KEY_A])
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}) as client:
        started = [(await client.post("/runs", json={"agent_key": "chatty"})).json()["run_id"] for _ in range(5)]
        for run_id in started:
            async with client.stream("GET", f"/runs/{run_id}/events") as stream:
                [m async for m in sse_messages(stream)]
        bus.most_in_flight = 0
        listed = (await client.get("/runs")).json()["runs"]
    assert [r["run_id"] for r in listed] == started[::-1]  # newest first, each with its status
    assert all(r["status"] == "succeeded" for r in listed)
    assert bus.most_in_flight > 1


async def test_shutdown_cancels_every_run_executing_here_even_past_the_listing_cap() -> None:
    runner = AgentRunner(RunnerConfig(max_retries=0))
    runs = RunManager(runner, "local", {"waits": WaitingAgent()}, max_listed=1)  # keeps one record
    started = [(await runs.start("owner", "waits", {"messages": []})).run_id for _ in range(3)]
    async with asyncio.timeout(30):
        while not all(runner.is_running(run_id) for run_id in started):
            await asyncio.sleep(0.01)
    assert runs.listed("owner") and len(runs.listed("owner")) == 1
    await runs.close(grace_seconds=30)
    for run_id in started:
        last = (await runner.event_bus.get_events(run_id))[-1]
        assert last.type is EventType.RUN_CANCELLED and last.payload["reason"] == "the server is shutting down", last
