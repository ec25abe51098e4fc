"""StepExecutor: the spec's semantics, retries, timeouts, events, and resume (also across a crash)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    RunStatus,
    StepError,
    UserError,
)
from agent_runtime_core.state import SQLiteStateStore
from agent_runtime_core.steps import Step, StepExecutor
from agent_runtime_core.testing import create_test_context


async def test_results_keyed_by_name_and_state_shared() -> None:
    async def step1(ctx: RunContext, state: dict[str, Any]) -> str:
        state["counter"] = 1
        return "done"

    async def step2(ctx: RunContext, state: dict[str, Any]) -> int:
        state["counter"] += 1
        assert state["step1"] == "done"  # earlier results are in the state too
        return int(state["counter"])

    ctx = create_test_context()
    results = await StepExecutor(ctx).run([Step("step1", step1), Step("step2", step2)], initial_state={"counter": 0})
    assert results == {"step1": "done", "step2": 2}
    assert ctx.event_types == [
        EventType.STEP_STARTED, EventType.CHECKPOINT, EventType.STEP_COMPLETED, EventType.PROGRESS_UPDATE,
        EventType.STEP_STARTED, EventType.CHECKPOINT, EventType.STEP_COMPLETED, EventType.PROGRESS_UPDATE,
    ]
    assert [e.payload["percent"] for e in ctx.events_of(EventType.PROGRESS_UPDATE)] == [50.0, 100.0]
    assert {e.step for e in ctx.events if e.type is not EventType.PROGRESS_UPDATE} == {"step1", "step2"}


async def test_retries_then_success_restore_state_between_attempts() -> None:
    attempts = 0

    async def flaky(ctx: RunContext, state: dict[str, Any]) -> str:
        nonlocal attempts
        attempts += 1
        state.setdefault("touched", 0)
        state["touched"] += 1
        if attempts < 3:
            raise ConnectionError(f"try {attempts}")
        return "ok"

    ctx = create_test_context()
    results = await StepExecutor(ctx).run([Step("fetch", flaky, retries=3, retry_delay=0.001)])
    assert results == {"fetch": "ok"} and attempts == 3
    retrying = ctx.events_of(EventType.STEP_RETRYING)
    assert [e.payload["attempt"] for e in retrying] == [1, 2]
    assert retrying[0].payload["error"]["message"] == "try 1"
    checkpoint = await ctx.get_checkpoint()
    assert checkpoint is not None and checkpoint["step_executor"]["state"]["touched"] == 1  # failed attempts rolled back


async def test_failure_after_retries_raises_step_error_and_emits_step_failed() -> None:
    async def broken(ctx: RunContext, state: dict[str, Any]) -> None:
        raise ValueError("bad data")

    ctx = create_test_context()
    with pytest.raises(StepError, match="'process' failed after 2 attempt") as info:
        await StepExecutor(ctx).run([Step("process", broken, retries=1, retry_delay=0)])
    assert info.value.step == "process"
    failed = ctx.events_of(EventType.STEP_FAILED)
    assert len(failed) == 1 and failed[0].payload["error"]["message"] == "bad data"


async def test_step_timeout() -> None:
    async def slow(ctx: RunContext, state: dict[str, Any]) -> None:
        await asyncio.sleep(5)

    ctx = create_test_context()
    with pytest.raises(StepError, match="timeout"):
        await StepExecutor(ctx).run([Step("slow", slow, timeout=0.02)])


async def test_resume_skips_completed_steps_in_the_same_context() -> None:
    calls: list[str] = []
    fail_once = {"step2": True}

    def make(name: str) -> Any:
        async def fn(ctx: RunContext, state: dict[str, Any]) -> str:
            calls.append(name)
            if fail_once.pop(name, False):
                raise RuntimeError("interrupted")
            return name.upper()
        return fn

    steps = [Step(n, make(n)) for n in ("step1", "step2", "step3")]
    ctx = create_test_context()
    with pytest.raises(StepError):
        await StepExecutor(ctx).run(steps)
    results = await StepExecutor(ctx).run(steps)
    assert results == {"step1": "STEP1", "step2": "STEP2", "step3": "STEP3"}
    assert calls == ["step1", "step2", "step2", "step3"]
    assert [e.payload["name"] for e in ctx.events_of(EventType.STEP_SKIPPED)] == ["step1"]


async def test_checkpoint_false_steps_are_not_saved() -> None:
    async def a(ctx: RunContext, state: dict[str, Any]) -> int:
        return 1

    ctx = create_test_context()
    await StepExecutor(ctx).run([Step("a", a, checkpoint=False)])
    assert ctx.checkpoints == []


async def test_executor_keeps_other_checkpoint_keys() -> None:
    async def a(ctx: RunContext, state: dict[str, Any]) -> int:
        return 1

    ctx = create_test_context()
    await ctx.checkpoint({"mine": "kept"})
    await StepExecutor(ctx).run([Step("a", a)])
    checkpoint = await ctx.get_checkpoint()
    assert checkpoint is not None and checkpoint["mine"] == "kept" and "step_executor" in checkpoint


async def test_cancellation_between_steps() -> None:
    async def a(ctx: RunContext, state: dict[str, Any]) -> int:
        ctx.request_cancel()
        return 1

    async def b(ctx: RunContext, state: dict[str, Any]) -> int:
        raise AssertionError("must not run")

    from agent_runtime_core import RunCancelledError

    with pytest.raises(RunCancelledError):
        await StepExecutor(create_test_context()).run([Step("a", a), Step("b", b)])


async def test_sync_step_functions_run_off_the_loop() -> None:
    import threading

    loop_thread = threading.get_ident()

    def blocking(ctx: RunContext, state: dict[str, Any]) -> int:
        return threading.get_ident()

    results = await StepExecutor(create_test_context()).run([Step("b", blocking)])
    assert results["b"] != loop_thread


async def test_bad_steps_are_refused() -> None:
    async def a(ctx: RunContext, state: dict[str, Any]) -> int:
        return 1

    with pytest.raises(UserError, match="unique"):
        await StepExecutor(create_test_context()).run([Step("a", a), Step("a", a)])
    for kwargs in (dict(name="", fn=a), dict(name="x", fn=None), dict(name="x", fn=a, retries=-1), dict(name="x", fn=a, timeout=0)):
        with pytest.raises(UserError):
            Step(**kwargs)  # type: ignore[arg-type]

    async def unserializable(ctx: RunContext, state: dict[str, Any]) -> object:
        return object()

    with pytest.raises(UserError, match="After step 'u'"):
        await StepExecutor(create_test_context()).run([Step("u", unserializable)])


async def test_steps_through_the_runner_retry_resumes_from_checkpoint() -> None:
    calls: list[str] = []

    class Pipeline(AgentRuntime):
        key = "pipeline"  # type: ignore[assignment]
        failed = False

        async def run(self, ctx: RunContext) -> RunResult:
            async def fetch(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
                calls.append("fetch")
                return {"items": [1, 2, 3]}

            async def process(ctx: RunContext, state: dict[str, Any]) -> int:
                calls.append("process")
                if not Pipeline.failed:
                    Pipeline.failed = True
                    raise RuntimeError("transient")
                return sum(state["fetch"]["items"])

            results = await StepExecutor(ctx).run([Step("fetch", fetch), Step("process", process)])
            return RunResult(final_output=results)

    result = await AgentRunner(RunnerConfig(retry_backoff_seconds=0.001)).execute(Pipeline(), run_id="p")
    assert result.status is RunStatus.SUCCEEDED and result.attempts == 2
    assert result.final_output == {"fetch": {"items": [1, 2, 3]}, "process": 6}
    assert calls == ["fetch", "process", "process"]  # attempt 2 skipped fetch


CRASHING_AGENT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from agent_runtime_core import AgentRunner, AgentRuntime, RunResult
    from agent_runtime_core.state import SQLiteStateStore
    from agent_runtime_core.steps import Step, StepExecutor

    db, log = sys.argv[1], sys.argv[2]

    def record(name):
        with open(log, "a") as f:
            f.write(name + "\\n")

    async def step1(ctx, state):
        record("step1")
        return {"fetched": 3}

    async def step2(ctx, state):
        record("step2")
        if not os.path.exists(log + ".crashed"):
            open(log + ".crashed", "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies between checkpoints
        return state["step1"]["fetched"] * 2

    async def step3(ctx, state):
        record("step3")
        return "validated"

    class Pipeline(AgentRuntime):
        key = "pipeline"
        async def run(self, ctx):
            results = await StepExecutor(ctx).run([Step("step1", step1), Step("step2", step2), Step("step3", step3)])
            return RunResult(final_output=results)

    async def main():
        runner = AgentRunner(state_store=SQLiteStateStore(db))
        result = await runner.execute(Pipeline(), run_id="crash-run")
        print(result.status, result.final_output)
        await runner.state_store.close()

    asyncio.run(main())
    """
)


@pytest.mark.subprocess
def test_resume_after_sigkill_between_steps_in_a_new_process(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    db, log = tmp_path / "state.db", tmp_path / "calls.log"
    first = subprocess.run([python, "-c", CRASHING_AGENT, str(db), str(log)], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert log.read_text().split() == ["step1", "step2"]

    second = subprocess.run([python, "-c", CRASHING_AGENT, str(db), str(log)], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "succeeded" in second.stdout and "'step2': 6" in second.stdout
    # step1 ran once in all: the second process resumed from the SQLite checkpoint
    assert log.read_text().split() == ["step1", "step2", "step2", "step3"]
    assert os.path.exists(str(log) + ".crashed")

    async def check() -> None:
        store = SQLiteStateStore(db)
        checkpoint = await store.get_checkpoint("crash-run")
        await store.close()
        assert checkpoint is not None
        assert checkpoint["step_executor"]["completed"] == ["step1", "step2", "step3"]

    asyncio.run(check())


async def test_a_timed_out_sync_step_cannot_change_the_state_afterwards() -> None:
    import time

    calls = 0

    def charge(ctx: RunContext, state: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(0.2)  # outlives its timeout; the thread cannot be stopped
            state["charged"] = 100
            return "late"
        return "ok"

    ctx = create_test_context()
    results = await StepExecutor(ctx).run([Step("charge", charge, timeout=0.05, retries=1, retry_delay=0)])
    assert results == {"charge": "ok"}
    await asyncio.sleep(0.3)  # the first attempt's thread has finished by now
    checkpoint = await ctx.get_checkpoint()
    assert checkpoint is not None and "charged" not in checkpoint["step_executor"]["state"]
