"""Cancel, interrupt and resume on the Temporal engine: cancellation reaches the agent through its
activity before its next model call; a run waiting for a human is resumed from another process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
import temporal_app
from temporal_support import serving, types_of

from agent_runtime_core import AgentRunner, EventType, RunStatus, UserError
from agent_runtime_core.testing import OpenAICompatibleServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def until(predicate: object, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    pytest.fail("timed out")


async def test_cancel_reaches_the_agent_before_its_next_model_call(
    runner: AgentRunner, worker: AgentRunner, model_server: OpenAICompatibleServer
) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 3, "pause": 30})
        await until(lambda: model_server.model_calls == 1)
        assert await runner.cancel(run_id, reason="no longer needed")
        result = await runner.wait(run_id, timeout=30)
        events = [e async for e in runner.events(run_id, follow=False)]
    assert result.status is RunStatus.CANCELLED
    assert result.error is not None and result.error.message == "no longer needed"
    assert model_server.model_calls == 1  # the agent stopped at ctx.is_cancelled(), no second call
    assert events[-1].type is EventType.RUN_CANCELLED
    assert events[-1].payload["reason"] == "no longer needed"
    assert [e.type for e in events].count(EventType.RUN_CANCELLED) == 1
    client = await runner.engine.client()  # type: ignore[attr-defined]
    description = await client.get_workflow_handle(run_id).describe()
    assert description.status is not None and description.status.name == "CANCELED"
    assert not await runner.cancel(run_id)  # ended: nothing to cancel


async def test_cancel_before_any_worker_takes_the_run(runner: AgentRunner, worker: AgentRunner, model_server: OpenAICompatibleServer) -> None:
    run_id = await runner.submit("stepper", {"messages": [], "steps": 1})
    assert await runner.cancel(run_id, reason="changed my mind")
    async with serving(worker):
        result = await runner.wait(run_id, timeout=30)
    assert result.status is RunStatus.CANCELLED
    assert await types_of(runner, run_id) == [EventType.RUN_CANCELLED]
    assert model_server.model_calls == 0


async def test_interrupt_then_resume_from_another_process(
    runner: AgentRunner, worker: AgentRunner, app_env: dict[str, str], subprocess_env: dict[str, str]
) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1, "interrupt": True})
        waiting = await runner.wait(run_id, timeout=30)
        assert waiting.status is RunStatus.INTERRUPTED
        assert waiting.interrupt == {"question": "May I finish?"}
        assert (await types_of(runner, run_id))[-1] is EventType.RUN_INTERRUPTED
        # Another process, with a runner of its own, answers.
        script = textwrap.dedent(f"""
            import asyncio, json, temporal_app
            async def main():
                result = await temporal_app.runner.resume({run_id!r}, {{"approved": True}})
                print(json.dumps({{"status": str(result.status), "output": result.final_output}}))
            asyncio.run(main())
        """)
        proc = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", script], cwd=str(temporal_app.__file__).rsplit("/", 1)[0],
            env={**subprocess_env, **app_env}, capture_output=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        answered = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        result = await runner.wait(run_id, timeout=30)
        events = [e async for e in runner.events(run_id, follow=False)]
    assert answered["status"] == "succeeded"
    assert result.status is RunStatus.SUCCEEDED
    assert result.final_output["human"] == {"approved": True}
    kinds = [e.type for e in events]
    assert kinds.count(EventType.RUN_INTERRUPTED) == 1 and kinds[-1] is EventType.RUN_SUCCEEDED
    assert kinds.count(EventType.LLM_CALL_COMPLETED) == 1  # the finished step was not redone
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_resume_of_a_run_not_waiting_is_refused(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1})
        await runner.wait(run_id, timeout=30)
        with pytest.raises(UserError, match="not waiting for a human"):
            await runner.resume(run_id, "yes")


async def test_cancel_while_waiting_for_a_human(runner: AgentRunner, worker: AgentRunner) -> None:
    async with serving(worker):
        run_id = await runner.submit("stepper", {"messages": [], "steps": 1, "interrupt": True})
        assert (await runner.wait(run_id, timeout=30)).status is RunStatus.INTERRUPTED
        assert await runner.cancel(run_id, reason="nobody answered")
        result = await runner.wait(run_id, timeout=30)
        kinds = await types_of(runner, run_id)
    assert result.status is RunStatus.CANCELLED
    assert kinds[-2:] == [EventType.RUN_INTERRUPTED, EventType.RUN_CANCELLED]
