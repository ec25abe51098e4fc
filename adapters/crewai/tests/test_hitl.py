"""Human in the loop: a `human_input=True` task ends the run INTERRUPTED with its answer to review,
checkpointed; `runner.resume(run_id, feedback)` continues it ('' accepts the answer; other text makes
the agent answer again), in this process or another, and no finished task or model call is redone."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
import scenarios

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events.grammar import check_events
from agent_runtime_core.events.redis import RedisEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing import RedisServer
from agent_runtime_core.testing.conformance import check_grammar, weather_for

FORECAST = f"The weather in Lisbon: {weather_for('Lisbon')}."
ANSWER = f"{scenarios.TWO_STEP_ANSWER_PREFIX} {FORECAST}"
QUESTION = "What's the weather in Lisbon?"


def _runner(store=None, bus=None) -> AgentRunner:
    return AgentRunner(RunnerConfig(max_retries=0), state_store=store or InMemoryStateStore(), event_bus=bus)


async def _interrupt(runner: AgentRunner, base_url: str, run_id: str):
    result = await runner.execute(scenarios.build_review_runtime(base_url), run_id, QUESTION)
    assert result.status is RunStatus.INTERRUPTED, result.error
    return result


async def test_review_interrupts_with_the_answer_and_resume_accepts_it(serve) -> None:
    server = serve(scenarios.review_model())
    runner = _runner()
    first = await _interrupt(runner, server.base_url, "review")
    assert first.interrupt is not None
    assert first.interrupt["task"] == "summary" and first.interrupt["task_index"] == 1
    assert first.interrupt["answer"] == ANSWER and "summary" in first.interrupt["question"]
    assert server.model_calls == 3  # forecast: tool call + answer; summary: its answer
    events = await runner.event_bus.get_events("review")
    check_grammar(events, strict=True)
    assert events[-1].type is EventType.RUN_INTERRUPTED and events[-1].payload["interrupt"] == first.interrupt
    checkpoint = await runner.state_store.get_checkpoint("review")
    assert checkpoint["status"] == "interrupted" and checkpoint["answer"] == ANSWER
    interrupted = [e.payload for e in events if e.type is EventType.STEP_COMPLETED and e.payload.get("interrupted")]
    assert [p["name"] for p in interrupted] == ["Writer", "summary"]

    done = await runner.resume("review", "", agent=scenarios.build_review_runtime(server.base_url))
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.final_output["response"] == ANSWER
    assert [t["raw"] for t in done.final_output["tasks"]] == [FORECAST, ANSWER]
    assert server.model_calls == 3  # accepted: nothing asked again, nothing redone
    after = (await runner.event_bus.get_events("review"))[len(events):]
    check_grammar(after, strict=True)
    assert [e.payload["name"] for e in after if e.type is EventType.STEP_SKIPPED] == ["forecast"]
    assert not [e for e in after if e.type is EventType.LLM_CALL_STARTED]


async def test_feedback_makes_the_agent_answer_again_then_asks_again(serve) -> None:
    server = serve(scenarios.review_model())
    runner = _runner()
    await _interrupt(runner, server.base_url, "review-fb")
    again = await runner.resume("review-fb", scenarios.FEEDBACK, agent=scenarios.build_review_runtime(server.base_url))
    assert again.status is RunStatus.INTERRUPTED, again.error
    assert again.interrupt["answer"] == scenarios.SHORT_ANSWER
    assert server.model_calls == 4  # one call: the writer, with its conversation and the feedback
    done = await runner.resume("review-fb", "", agent=scenarios.build_review_runtime(server.base_url))
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.final_output["response"] == scenarios.SHORT_ANSWER
    assert server.model_calls == 4
    check_events(await runner.event_bus.get_events("review-fb"), strict=True)  # three executions


async def test_an_interrupted_run_executed_again_asks_again(serve) -> None:
    server = serve(scenarios.review_model())
    runner = _runner()
    first = await _interrupt(runner, server.base_url, "review-again")
    again = await runner.execute(scenarios.build_review_runtime(server.base_url), "review-again", QUESTION)
    assert again.status is RunStatus.INTERRUPTED and again.interrupt == first.interrupt
    assert server.model_calls == 3


@pytest.mark.subprocess
async def test_resume_in_another_process(serve, tmp_path: Path) -> None:
    """Interrupt here (SQLite state, Redis events), resume with feedback in a child process, then
    accept here: 3 model calls, then 1 (the writer again), then none."""
    server = serve(scenarios.review_model())
    db = tmp_path / "state.db"
    with RedisServer(tmp_path / "redis") as redis:
        store, bus = SQLiteStateStore(db), RedisEventBus(redis.url)
        try:
            await _interrupt(_runner(store, bus), server.base_url, "review-x")
        finally:
            await store.close()
        assert server.model_calls == 3
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).parent / "_review_child.py"), server.base_url, str(db), redis.url,
            "review-x", scenarios.FEEDBACK, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            out, err = await asyncio.wait_for(child.communicate(), timeout=120)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert child.returncode == 0, err.decode(errors="replace")
        resumed = json.loads(out.decode().strip().splitlines()[-1])
        assert resumed["status"] == "interrupted", resumed
        assert resumed["interrupt"]["answer"] == scenarios.SHORT_ANSWER
        assert server.model_calls == 4  # the forecast task and the writer's first answer: not redone
        store = SQLiteStateStore(db)
        try:
            runner = _runner(store, bus)
            done = await runner.resume("review-x", "", agent=scenarios.build_review_runtime(server.base_url))
            assert done.status is RunStatus.SUCCEEDED, done.error
            assert done.final_output["response"] == scenarios.SHORT_ANSWER
            assert [t["raw"] for t in done.final_output["tasks"]] == [FORECAST, scenarios.SHORT_ANSWER]
            check_events(await bus.get_events("review-x"), strict=True)
        finally:
            await store.close()
            await bus.close()
    assert server.model_calls == 4
