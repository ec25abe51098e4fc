"""Faults on the Temporal engine, with real processes: a worker SIGKILLed mid-run, the dev server
killed and restarted mid-run (with its database file), 200 runs across two workers. Every process
is killed by its PID at the end (fixtures)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

import pytest
from temporal_support import serving

from agent_runtime_core import AgentRunner, EventType, RunStatus
from agent_runtime_core.events import Event
from agent_runtime_core.testing import OpenAICompatibleServer, TemporalServer

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.timeout(180)]


async def until(predicate: Any, timeout: float, what: str, logs: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs() if logs else ''}")


def calls_per_step(model_server: OpenAICompatibleServer, run_id: str) -> Counter[str]:
    """Model calls of `run_id` counted on the loopback server, by the step they were made for."""
    counts: Counter[str] = Counter()
    for request in model_server.requests:
        for message in (request.body or {}).get("messages", []):
            text = str(message.get("content"))
            if text.startswith(f"{run_id} step "):
                counts[text.rsplit(" ", 1)[1]] += 1
    return counts


def check_seqs(events: list[Event]) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"seq repeated or skipped: {seqs}"


async def test_a_worker_killed_mid_run_the_run_finishes_on_the_other(
    runner: AgentRunner, workers: Any, model_server: OpenAICompatibleServer
) -> None:
    first, second = workers.start(), workers.start()
    run_id = await runner.submit("stepper", {"messages": [], "steps": 4, "pause": 0.7})

    async def two_steps_checkpointed() -> bool:
        events = await runner.event_bus.get_events(run_id)
        return sum(e.type is EventType.CHECKPOINT for e in events) >= 2

    await until(two_steps_checkpointed, 60, "two finished steps", workers.logs)
    before = await runner.event_bus.get_events(run_id)
    holder = next(e.payload["pid"] for e in before if e.type is EventType.STEP_STARTED)
    victim = first if holder == first.pid else second
    assert holder in (first.pid, second.pid)
    workers.kill(victim)  # SIGKILL, mid-run
    finished_steps = sum(e.type is EventType.CHECKPOINT for e in before)

    result = await runner.wait(run_id, timeout=90)
    events = await runner.event_bus.get_events(run_id)
    assert result.status is RunStatus.SUCCEEDED, (result.error, workers.logs())
    assert result.final_output["steps"] == 4
    check_seqs(events)
    starts = [e for e in events if e.type is EventType.RUN_STARTED]
    assert [e.payload["attempt"] for e in starts] == [1, 2]  # Temporal's second attempt of the activity
    survivor = second if victim is first else first
    assert {e.payload["pid"] for e in events[len(before):] if e.type is EventType.STEP_STARTED} == {survivor.pid}
    # No finished model call was made again: each step checkpointed before the kill was called once.
    calls = calls_per_step(model_server, run_id)
    assert sorted(calls) == ["0", "1", "2", "3"]
    for step in range(finished_steps):
        assert calls[str(step)] == 1, calls
    assert sum(calls.values()) <= 4 + 1  # at most the one call in flight at the kill, again
    assert sum(e.type is EventType.RUN_SUCCEEDED for e in events) == 1


async def test_the_dev_server_restarted_mid_run_with_its_database_the_run_completes(
    own_temporal: TemporalServer, runner_factory: Any, app_env: dict[str, str],
    model_server: OpenAICompatibleServer,
) -> None:
    app_env["TEMPORAL_ADDRESS"] = own_temporal.address
    client, worker = runner_factory(), runner_factory()
    async with serving(worker):
        run_id = await client.submit("stepper", {"messages": [], "steps": 4, "pause": 0.5})

        async def first_call() -> bool:
            return model_server.model_calls >= 1

        await until(first_call, 60, "the first model call")
        await asyncio.to_thread(own_temporal.restart, 1.0)  # SIGKILL, down 1 s, up on the same DB
        result = await client.wait(run_id, timeout=120)
        events = await client.event_bus.get_events(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output["steps"] == 4
    check_seqs(events)
    assert sum(e.type is EventType.RUN_SUCCEEDED for e in events) == 1
    assert sorted(calls_per_step(model_server, run_id)) == ["0", "1", "2", "3"]


@pytest.mark.timeout(300)
async def test_200_runs_across_two_workers_none_lost_none_twice(
    runner_factory: Any, workers: Any, model_server: OpenAICompatibleServer
) -> None:
    # A heartbeat timeout (the submitter's policy) well above the stalls of a loaded machine: this
    # test is about load, not attempts Temporal gives up on (test_engine.py covers a stall).
    runner = runner_factory(heartbeat_timeout_seconds=20)
    first, second = workers.start(concurrency=20), workers.start(concurrency=20)
    run_ids = [f"bulk-{i:03d}" for i in range(200)]
    await asyncio.gather(*(runner.submit("stepper", {"messages": [], "steps": 1}, run_id=r) for r in run_ids))
    results = await asyncio.gather(*(runner.wait(r, timeout=240) for r in run_ids))
    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 200, workers.logs()
    pids: Counter[int] = Counter()
    for run_id in run_ids:
        events = await runner.event_bus.get_events(run_id)
        check_seqs(events)
        assert sum(e.type is EventType.RUN_SUCCEEDED for e in events) == 1
        assert sum(e.type is EventType.RUN_STARTED for e in events) == 1  # each ran once
        pids.update(e.payload["pid"] for e in events if e.type is EventType.STEP_STARTED)
    assert set(pids) == {first.pid, second.pid}  # both workers took runs
    assert model_server.model_calls == 200
    for proc in (first, second):
        os.kill(proc.pid, signal.SIGTERM)
