"""A server whose runner has a shared queue submits runs to the workers instead of executing
them: here a Redis queue, event bus and state store, a worker in another runner sharing them,
and two server replicas that agree on who owns a run."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from agent_runtime_core import AgentRunner, RunnerConfig, register_runtime
from agent_runtime_core.distributed import Worker, WorkerConfig
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import InMemoryQueue, RedisQueue
from agent_runtime_core.serve import create_app
from agent_runtime_core.state import RedisStateStore

from .conftest import AGENTS, KEY_A, KEY_B, serve_app, sse_messages


def redis_runner(url: str) -> AgentRunner:
    return AgentRunner(
        RunnerConfig(max_retries=0, run_timeout_seconds=60, cancel_grace_seconds=0.2),
        event_bus=RedisEventBus(url, block_seconds=0.2),
        state_store=RedisStateStore(url),
        queue=RedisQueue(url),
    )


async def test_runs_go_to_the_workers_and_replicas_agree(redis_url: str) -> None:
    worker_runner = redis_runner(redis_url)
    worker = Worker(worker_runner, worker_runner.queue, WorkerConfig(concurrency=4))
    for agent in AGENTS:  # the workers know the agents (their app module registers them)
        register_runtime(agent)
    serving = asyncio.create_task(worker.serve(handle_signals=False))
    runners = [worker_runner]
    try:
        runners.extend(redis_runner(redis_url) for _ in range(2))
        servers = [create_app(runner, api_keys=[KEY_A, KEY_B], execution="auto") for runner in runners]
        assert all(app.state.serve.runs.execution == "queue" for app in servers)
        async with serve_app(servers[0]) as url_1, serve_app(servers[1]) as url_2:
            a1 = httpx.AsyncClient(base_url=url_1, headers={"Authorization": f"Bearer {KEY_A}"})
            a2 = httpx.AsyncClient(base_url=url_2, headers={"Authorization": f"Bearer {KEY_A}"})
            b2 = httpx.AsyncClient(base_url=url_2, headers={"Authorization": f"Bearer {KEY_B}"})
            async with a1, a2, b2:
                run_id = (await a1.post("/runs", json={"agent_key": "chatty", "input": "hi"})).json()["run_id"]
                # Followed on the other replica: the events come from the shared bus.
                async with a2.stream("GET", f"/runs/{run_id}/events") as stream:
                    types = [m.event async for m in sse_messages(stream) if m.event]
                assert types[0] == "run.started" and types[-1] == "run.succeeded" and "tool.call" in types
                assert (await a2.get(f"/runs/{run_id}")).json()["result"] == {"final_output": {"response": "It is sunny in Paris."}}
                assert (await b2.get(f"/runs/{run_id}")).status_code == 404
                # A cancel through a replica reaches the worker that holds the run.
                waiting = (await a1.post("/runs", json={"agent_key": "waits"})).json()["run_id"]
                async with asyncio.timeout(30):
                    while (await a1.get(f"/runs/{waiting}")).json()["status"] != "running":
                        await asyncio.sleep(0.05)
                assert (await a2.post(f"/runs/{waiting}/cancel")).json()["cancel_requested"] is True
                async with asyncio.timeout(30):
                    while (await a1.get(f"/runs/{waiting}")).json()["status"] != "cancelled":
                        await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await asyncio.wait_for(serving, 30)
        for runner in runners:  # every connection closed here, on this test's loop
            for part in (runner.queue, runner.event_bus, runner.state_store):
                with contextlib.suppress(Exception):
                    await part.close()  # type: ignore[attr-defined]


async def test_a_refused_submit_leaves_no_queued_run_behind() -> None:
    runner = AgentRunner(RunnerConfig(max_retries=0), queue=InMemoryQueue())
    # A body limit above the queue's 1 MB input limit, so the submit itself refuses the input.
    app = create_app(runner, agents=AGENTS, api_keys=[KEY_A], execution="queue", max_body_bytes=4 * 1024 * 1024)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}) as client:
        big = await client.post("/runs", json={"agent_key": "chatty", "input": "x" * 1_100_000})
        assert big.status_code == 422 and "max_input_bytes" in big.json()["error"]["message"]
        assert (await client.get("/runs")).json()["runs"] == []
        queued = await client.post("/runs", json={"agent_key": "chatty", "input": "hi"})
        assert queued.status_code == 201
        assert [r["status"] for r in (await client.get("/runs")).json()["runs"]] == ["queued"]
