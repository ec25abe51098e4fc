"""The Temporal engine with in-process workers: the same runner calls and the same events as the
queue engine, duplicate submits, retries, and no secret in a workflow history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import temporal_app
from temporal_support import serving, types_of

from agent_runtime_core import AgentRunner, EventType, RunStatus, configure
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import RedisQueue
from agent_runtime_core.state import RedisStateStore
from agent_runtime_core.testing import TemporalServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def close(runner: AgentRunner) -> None:
    for part in (runner.event_bus, runner.state_store, getattr(runner.engine, "queue", None)):
        if part is not None:
            await part.close()  # type: ignore[attr-defined]


async def test_submit_events_result_match_the_queue_engine(runner: AgentRunner, worker: AgentRunner, redis_url: str) -> None:
    queue_runner = AgentRunner(
        temporal_app.CONFIG, event_bus=RedisEventBus(redis_url, block_seconds=0.5),
        state_store=RedisStateStore(redis_url), queue=RedisQueue(redis_url, poll_seconds=0.2),
    )
    async with serving(worker), serving(queue_runner):
        on_temporal = await runner.submit("stepper", {"messages": [], "steps": 3}, run_id="on-temporal")
        on_queue = await queue_runner.submit("stepper", {"messages": [], "steps": 3}, run_id="on-queue")
        temporal_result = await runner.wait(on_temporal, timeout=60)
        queue_result = await queue_runner.wait(on_queue, timeout=60)
        temporal_types = await types_of(runner, on_temporal)
        queue_types = await types_of(queue_runner, on_queue)
    await close(queue_runner)
    assert temporal_result.status is RunStatus.SUCCEEDED, temporal_result.error
    assert temporal_result.final_output == {"response": "done: on-temporal step 2", "steps": 3}
    assert queue_result.final_output == {"response": "done: on-queue step 2", "steps": 3}
    assert temporal_types == queue_types
    assert temporal_types[0] is EventType.RUN_STARTED and temporal_types[-1] is EventType.RUN_SUCCEEDED
    assert temporal_types.count(EventType.LLM_CALL_COMPLETED) == 3
    seqs = [e.seq async for e in runner.events(on_temporal)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_duplicate_submit_is_rejected_by_temporal_and_starts_nothing(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        first = await runner.submit("stepper", {"messages": [], "steps": 1}, run_id="dup")
        again = await runner.submit("stepper", {"messages": [], "steps": 1}, run_id="dup")
        assert first == again == "dup"
        assert (await runner.wait("dup", timeout=60)).status is RunStatus.SUCCEEDED
        assert await runner.submit("stepper", {"messages": [], "steps": 1}, run_id="dup") == "dup"
        types = await types_of(runner, "dup")
    assert types.count(EventType.RUN_STARTED) == 1
    client = await runner.engine.client()  # type: ignore[attr-defined]
    runs = [w async for w in client.list_workflows('WorkflowId="dup"')]
    assert len(runs) == 1


async def test_a_failed_attempt_is_retried_by_temporal_with_the_runners_backoff(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1, "fail_first": True})
        result = await runner.wait(run_id, timeout=60)
        events = [e async for e in runner.events(run_id, follow=False)]
    assert result.status is RunStatus.SUCCEEDED and result.attempts == 2
    kinds = [e.type for e in events]
    assert kinds[:3] == [EventType.RUN_STARTED, EventType.RUN_RETRYING, EventType.RUN_STARTED]
    assert [e.payload["attempt"] for e in events if e.type is EventType.RUN_STARTED] == [1, 2]
    assert events[1].payload["error"]["type"] == "ConnectionError"
    client = await runner.engine.client()  # type: ignore[attr-defined]
    history = await client.get_workflow_handle(run_id).fetch_history()
    scheduled = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert len(scheduled) == 1  # one activity, attempted twice by Temporal's retry policy
    started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert started[-1].activity_task_started_event_attributes.attempt == 2


async def test_an_unknown_agent_fails_the_run_without_retrying(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        run_id = await runner.submit("nobody", "hi")
        result = await runner.wait(run_id, timeout=60)
        types = await types_of(runner, run_id)
    assert result.status is RunStatus.FAILED and "nobody" in str(result.error)
    assert types == [EventType.RUN_STARTED, EventType.RUN_FAILED]


async def test_no_secret_reaches_the_workflow_history(runner: AgentRunner, worker: AgentRunner) -> None:
    configure(openai_api_key=temporal_app.SECRET)  # a known secret, as an application has
    question = f"my key is {temporal_app.SECRET}"
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [{"role": "user", "content": question}],
                                                 "steps": 1, "leak": True})
        result = await runner.wait(run_id, timeout=60)
        failing = await runner.submit("stepper", {"messages": [], "steps": 1, "fail_first": True,
                                                  "metadata": {"token": temporal_app.SECRET}})
        await runner.wait(failing, timeout=60)
    assert result.status is RunStatus.SUCCEEDED
    client = await runner.engine.client()  # type: ignore[attr-defined]
    for workflow_id in (run_id, failing):
        history = (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()
        assert len(history) > 1000
        # Payloads are base64 in the JSON form: decode every one and look in it too.
        assert temporal_app.SECRET not in history
        assert temporal_app.SECRET not in _decoded_payloads(history)
    assert "***" in _decoded_payloads((await client.get_workflow_handle(run_id).fetch_history()).to_json())


def _decoded_payloads(history_json: str) -> str:
    import base64
    import json

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "data" in node and isinstance(node["data"], str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join(found)


async def test_runs_show_agent_key_and_status_in_temporal(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1})
        await runner.wait(run_id, timeout=60)
    client = await runner.engine.client()  # type: ignore[attr-defined]
    description = await client.get_workflow_handle(run_id).describe()
    assert (await description.memo())["status"] == "succeeded"
    query = f'AgentKey="stepper" AND AgentRunStatus="succeeded" AND WorkflowId="{run_id}"'
    for _ in range(100):  # visibility is eventually consistent
        if [w async for w in client.list_workflows(query)]:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"no workflow matched {query}")


async def test_the_engine_registers_its_search_attributes_when_the_server_lacks_them(
    tmp_path: Path, runner_factory: Any, app_env: dict[str, str]
) -> None:
    with TemporalServer(tmp_path / "bare", search_attributes=()) as bare:
        app_env["TEMPORAL_ADDRESS"] = bare.address
        client, worker = runner_factory(), runner_factory()
        async with serving(worker):
            run_id = await client.submit("stepper", {"messages": [], "steps": 1})
            assert (await client.wait(run_id, timeout=60)).status is RunStatus.SUCCEEDED
        temporal = await client.engine.client()
        query = f'AgentKey="stepper" AND WorkflowId="{run_id}"'
        for _ in range(100):  # visibility is eventually consistent
            if [w async for w in temporal.list_workflows(query)]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"no workflow matched {query}")


async def test_an_attempt_timed_out_after_finishing_is_not_run_again(runner: AgentRunner, worker: AgentRunner) -> None:
    """Attempt 1 stalls past the heartbeat timeout, then finishes: Temporal has already scheduled
    attempt 2, which finds the recorded outcome instead of running the agent again."""
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1, "stall": 6.5})
        result = await runner.wait(run_id, timeout=60)
        events = [e async for e in runner.events(run_id, follow=False)]
    assert result.status is RunStatus.SUCCEEDED, result.error
    kinds = [e.type for e in events]
    assert kinds.count(EventType.RUN_STARTED) == 1 and kinds.count(EventType.RUN_SUCCEEDED) == 1
    client = await runner.engine.client()  # type: ignore[attr-defined]
    history = await client.get_workflow_handle(run_id).fetch_history()
    started = [e.activity_task_started_event_attributes for e in history.events
               if e.HasField("activity_task_started_event_attributes")]
    assert started[-1].attempt >= 2  # Temporal did retry it
