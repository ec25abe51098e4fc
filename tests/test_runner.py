"""AgentRunner: events, timeouts, retries, cancellation, isolation of concurrent runs."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    NonRetriableError,
    RunContext,
    RunnerConfig,
    RunResult,
    RunStatus,
    TraceSink,
    UserError,
    register_runtime,
)
from agent_runtime_core.context import current_run_context
from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.testing.hostile import hostile_json_text, json_values

FAST = RunnerConfig(run_timeout_seconds=5, max_retries=2, retry_backoff_seconds=0.001, retry_jitter=0)


class Echo(AgentRuntime):
    key = "echo"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": ctx.input_messages[-1]["content"]})
        return RunResult(final_output={"response": ctx.input_messages[-1]["content"]})


class Flaky(AgentRuntime):
    """Fails `failures` times, then succeeds."""

    key = "flaky"  # type: ignore[assignment]

    def __init__(self, failures: int, exc: type[Exception] = RuntimeError) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    async def run(self, ctx: RunContext) -> RunResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"boom {self.calls}")
        return RunResult(final_output={"calls": self.calls})


class Sleeper(AgentRuntime):
    key = "sleeper"  # type: ignore[assignment]

    def __init__(self, seconds: float, cooperative: bool = False) -> None:
        self.seconds, self.cooperative, self.started = seconds, cooperative, asyncio.Event()

    async def run(self, ctx: RunContext) -> RunResult:
        self.started.set()
        if self.cooperative:
            while not ctx.is_cancelled():
                await asyncio.sleep(0.005)
            return RunResult(final_output={"stopped": "cooperatively"})
        await asyncio.sleep(self.seconds)
        return RunResult(final_output={"slept": self.seconds})


def types(events: list[Any]) -> list[EventType]:
    return [e.type for e in events]


async def test_success_emits_started_and_succeeded_and_returns_result() -> None:
    runner = AgentRunner(FAST)
    result = await runner.execute(agent=Echo(), run_id="run-123", input_data={"messages": [{"role": "user", "content": "Hello!"}]})
    assert result.status is RunStatus.SUCCEEDED and result.succeeded
    assert result.final_output == {"response": "Hello!"}
    assert (result.run_id, result.attempts, result.error) == ("run-123", 1, None)
    events = await runner.event_bus.get_events("run-123")
    assert types(events) == [EventType.RUN_STARTED, EventType.ASSISTANT_MESSAGE, EventType.RUN_SUCCEEDED]
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].payload == {"agent_key": "echo", "attempt": 1}
    assert events[-1].payload == {"final_output": {"response": "Hello!"}}


async def test_agent_by_registered_key_and_string_input() -> None:
    register_runtime(Echo())
    result = await AgentRunner(FAST).execute("echo", input_data="hi")
    assert result.final_output == {"response": "hi"}


async def test_retries_with_exponential_backoff_then_success() -> None:
    agent = Flaky(failures=2)
    config = RunnerConfig(max_retries=3, retry_backoff_seconds=0.02, retry_backoff_multiplier=3, retry_jitter=0)
    runner = AgentRunner(config)
    result = await runner.execute(agent, run_id="r")
    assert result.status is RunStatus.SUCCEEDED and result.attempts == 3 and agent.calls == 3
    events = await runner.event_bus.get_events("r")
    retrying = [e for e in events if e.type is EventType.RUN_RETRYING]
    assert [e.payload["delay_seconds"] for e in retrying] == [0.02, 0.06]
    assert [e.payload["error"]["message"] for e in retrying] == ["boom 1", "boom 2"]
    started = [e for e in events if e.type is EventType.RUN_STARTED]
    assert [e.payload["attempt"] for e in started] == [1, 2, 3]
    # the waits really happened: at least 0.02 + 0.06 seconds between the attempts
    assert started[2].timestamp - started[0].timestamp >= 0.075


def test_backoff_is_capped_and_jittered() -> None:
    config = RunnerConfig(retry_backoff_seconds=1, retry_backoff_multiplier=10, retry_backoff_max_seconds=30, retry_jitter=0)
    assert [config.backoff(n) for n in (1, 2, 3, 4)] == [1, 10, 30, 30]
    jittered = RunnerConfig(retry_backoff_seconds=1, retry_jitter=0.5)
    values = {round(jittered.backoff(1), 6) for _ in range(50)}
    assert len(values) > 1 and all(0.5 <= v <= 1.5 for v in values)


async def test_retries_exhausted_gives_failed_result_not_exception() -> None:
    agent = Flaky(failures=10)
    runner = AgentRunner(FAST)
    result = await runner.execute(agent, run_id="r")
    assert result.status is RunStatus.FAILED and not result.succeeded
    assert agent.calls == 3 and result.attempts == 3
    assert result.error is not None and result.error.type == "RuntimeError" and result.error.message == "boom 3"
    events = await runner.event_bus.get_events("r")
    assert events[-1].type is EventType.RUN_FAILED
    assert events[-1].payload["error"]["message"] == "boom 3"


async def test_non_retriable_error_fails_at_once() -> None:
    agent = Flaky(failures=10, exc=NonRetriableError)
    result = await AgentRunner(FAST).execute(agent)
    assert result.status is RunStatus.FAILED and agent.calls == 1
    assert result.error is not None and result.error.retriable is False


async def test_timeout_fails_the_attempt_and_is_retried() -> None:
    agent = Sleeper(10)
    runner = AgentRunner(RunnerConfig(run_timeout_seconds=0.05, max_retries=1, retry_backoff_seconds=0.001))
    result = await asyncio.wait_for(runner.execute(agent, run_id="slow"), 5)  # the agent sleeps 10 s
    assert result.status is RunStatus.FAILED and result.attempts == 2
    assert result.error is not None and result.error.type == "RunTimeoutError"
    assert "0.05s" in result.error.message


async def test_cancel_is_seen_by_a_cooperative_agent() -> None:
    agent = Sleeper(0, cooperative=True)
    runner = AgentRunner(FAST)
    task = asyncio.create_task(runner.execute(agent, run_id="c"))
    await agent.started.wait()
    assert runner.is_running("c")
    assert await runner.cancel("c", reason="user pressed stop")
    result = await asyncio.wait_for(task, 2)
    assert result.status is RunStatus.CANCELLED
    assert result.final_output == {"stopped": "cooperatively"}
    events = await runner.event_bus.get_events("c")
    assert events[-1].type is EventType.RUN_CANCELLED and events[-1].payload == {"reason": "user pressed stop"}
    assert not runner.is_running("c")


async def test_cancel_forces_a_stuck_agent_after_the_grace_period() -> None:
    agent = Sleeper(30)
    runner = AgentRunner(RunnerConfig(cancel_grace_seconds=0.05, max_retries=3))
    task = asyncio.create_task(runner.execute(agent, run_id="stuck"))
    await agent.started.wait()
    await runner.cancel("stuck")
    await asyncio.sleep(0)
    assert not task.done()  # the grace period comes first: the agent may still stop by itself
    result = await asyncio.wait_for(task, 5)  # the agent sleeps 30 s: only the forced cancel ends it
    assert result.status is RunStatus.CANCELLED and result.attempts == 1  # not retried
    assert types(await runner.event_bus.get_events("stuck"))[-1] is EventType.RUN_CANCELLED


async def test_cancel_during_backoff_stops_retrying() -> None:
    agent = Flaky(failures=10)
    runner = AgentRunner(RunnerConfig(max_retries=5, retry_backoff_seconds=30, retry_jitter=0))
    task = asyncio.create_task(runner.execute(agent, run_id="b"))
    while agent.calls == 0:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    await runner.cancel("b")
    result = await asyncio.wait_for(task, 2)
    assert result.status is RunStatus.CANCELLED and agent.calls == 1


async def test_cancel_unknown_run_returns_false() -> None:
    assert await AgentRunner().cancel("nope") is False


async def test_caller_cancellation_propagates_without_a_terminal_event() -> None:
    agent = Sleeper(30)
    runner = AgentRunner(FAST)
    task = asyncio.create_task(runner.execute(agent, run_id="shutdown"))
    await agent.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert types(await runner.event_bus.get_events("shutdown")) == [EventType.RUN_STARTED]
    assert not runner.is_running("shutdown")


async def test_invalid_input_fails_the_run_cleanly() -> None:
    runner = AgentRunner(FAST)
    for bad in ({"messages": "hello"}, {"messages": [{"content": "no role"}]}, 42, {"messages": [], "metadata": []}):
        result = await runner.execute(Echo(), input_data=bad)  # type: ignore[arg-type]
        assert result.status is RunStatus.FAILED
        assert result.error is not None and result.error.type == "InvalidInputError" and not result.error.retriable


async def test_wrong_return_type_is_a_clear_failure() -> None:
    class Bad(AgentRuntime):
        key = "bad"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            return {"response": "x"}  # type: ignore[return-value]

    result = await AgentRunner(FAST).execute(Bad())
    assert result.error is not None and "must return a RunResult" in result.error.message and result.attempts == 1


async def test_agent_returned_error_and_interrupt() -> None:
    from agent_runtime_core import ErrorInfo

    class Declines(AgentRuntime):
        key = "declines"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            if ctx.metadata.get("ask"):
                return RunResult(interrupt={"question": "Approve the refund?"})
            return RunResult(error=ErrorInfo(type="Refused", message="cannot do that", retriable=False))

    runner = AgentRunner(FAST)
    failed = await runner.execute(Declines(), run_id="d1")
    assert failed.status is RunStatus.FAILED and failed.attempts == 1
    paused = await runner.execute(Declines(), run_id="d2", metadata={"ask": True})
    assert paused.status is RunStatus.INTERRUPTED
    last = (await runner.event_bus.get_events("d2"))[-1]
    assert last.type is EventType.RUN_INTERRUPTED and last.payload == {"interrupt": {"question": "Approve the refund?"}}


async def test_same_run_id_cannot_execute_twice_at_once() -> None:
    agent = Sleeper(0.2)
    runner = AgentRunner(FAST)
    task = asyncio.create_task(runner.execute(agent, run_id="dup"))
    await agent.started.wait()
    with pytest.raises(UserError, match="already executing"):
        await runner.execute(agent, run_id="dup")
    await task


async def test_re_execution_continues_the_event_stream_and_sees_the_checkpoint() -> None:
    class Counter(AgentRuntime):
        key = "counter"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            state = await ctx.get_checkpoint() or {"n": 0}
            state["n"] += 1
            await ctx.checkpoint(state)
            return RunResult(final_output=state)

    runner = AgentRunner(FAST, event_bus=InMemoryEventBus(), state_store=InMemoryStateStore())
    assert (await runner.execute(Counter(), run_id="r")).final_output == {"n": 1}
    assert (await runner.execute(Counter(), run_id="r")).final_output == {"n": 2}
    events = await runner.event_bus.get_events("r")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert types(events).count(EventType.CHECKPOINT) == 2


async def test_concurrent_runs_never_mix_events_state_or_context() -> None:
    class Worker(AgentRuntime):
        key = "worker"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            me = ctx.input_messages[0]["content"]
            for i in range(5):
                assert current_run_context() is ctx
                await ctx.emit(EventType.PROGRESS_UPDATE, {"owner": me, "i": i})
                await ctx.checkpoint({"owner": me, "i": i})
                await asyncio.sleep(0.001)
            return RunResult(final_output={"owner": me})

    runner = AgentRunner(FAST)
    results = await asyncio.gather(*(runner.execute(Worker(), run_id=f"r{n}", input_data=f"owner-{n}") for n in range(50)))
    for n, result in enumerate(results):
        assert result.final_output == {"owner": f"owner-{n}"}
        events = await runner.event_bus.get_events(f"r{n}")
        assert {e.run_id for e in events} == {f"r{n}"}
        owners = {e.payload["owner"] for e in events if e.type is EventType.PROGRESS_UPDATE}
        assert owners == {f"owner-{n}"}
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert await runner.state_store.get_checkpoint(f"r{n}") == {"owner": f"owner-{n}", "i": 4}
    assert current_run_context() is None


class RecordingSink(TraceSink):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def trace(self, event: dict[str, Any]) -> None:
        self.events.append(event)


async def test_trace_sink_receives_every_event_as_a_dict() -> None:
    sink = RecordingSink()
    runner = AgentRunner(FAST, trace_sink=sink)
    await runner.execute(Echo(), run_id="t", input_data="x")
    stored = await runner.event_bus.get_events("t")
    assert sink.events == [e.to_dict() for e in stored]
    assert sink.events[0]["type"] == "run.started"


async def test_a_failing_trace_sink_never_fails_the_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(TraceSink):
        async def trace(self, event: dict[str, Any]) -> None:
            raise ConnectionError("platform down")

    result = await AgentRunner(FAST, trace_sink=Broken()).execute(Echo(), input_data="x")
    assert result.status is RunStatus.SUCCEEDED
    assert "platform down" in caplog.text


def test_execute_sync_without_a_loop() -> None:
    result = AgentRunner(FAST).execute_sync(Echo(), input_data="sync hello")
    assert result.final_output == {"response": "sync hello"}


async def test_execute_sync_inside_a_loop_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="await runner.execute"):
        AgentRunner(FAST).execute_sync(Echo(), input_data="x")


def test_runner_config_validation() -> None:
    for bad in (dict(max_retries=-1), dict(run_timeout_seconds=0), dict(retry_backoff_multiplier=0.5), dict(cancel_grace_seconds=-1)):
        with pytest.raises(UserError):
            RunnerConfig(**bad)  # type: ignore[arg-type]


async def test_not_an_agent_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        await AgentRunner().execute(object())  # type: ignore[arg-type]


async def test_default_backends_follow_configure(tmp_path: Any) -> None:
    from agent_runtime_core import configure
    from agent_runtime_core.state import SQLiteStateStore

    configure(state_store_backend="sqlite", sqlite_path=str(tmp_path / "cfg.db"))
    runner = AgentRunner()
    assert isinstance(runner.state_store, SQLiteStateStore) and runner.state_store.db_path.endswith("cfg.db")
    await runner.state_store.close()
    configure(state_store_backend="redis", event_bus_backend="memory")
    with pytest.raises(UserError, match="redis_url"):
        AgentRunner()


async def test_interrupt_then_resume_with_the_humans_answer() -> None:
    class Approval(AgentRuntime):
        key = "approval"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            if not ctx.is_resuming:
                await ctx.checkpoint({"amount": 42})
                return RunResult(interrupt={"question": "Refund 42?"})
            state = await ctx.get_checkpoint()
            assert state is not None
            return RunResult(final_output={"approved": ctx.resume_value == "yes", "amount": state["amount"]})

    register_runtime(Approval())
    runner = AgentRunner(FAST)
    with pytest.raises(UserError, match="not waiting"):
        await runner.resume("r-hitl", "yes")
    paused = await runner.execute("approval", run_id="r-hitl")
    assert paused.status is RunStatus.INTERRUPTED and paused.interrupt == {"question": "Refund 42?"}
    resumed = await runner.resume("r-hitl", "yes")
    assert resumed.status is RunStatus.SUCCEEDED and resumed.final_output == {"approved": True, "amount": 42}
    events = await runner.event_bus.get_events("r-hitl")
    assert types(events)[-2:] == [EventType.RUN_STARTED, EventType.RUN_SUCCEEDED]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    with pytest.raises(UserError, match="not waiting"):
        await runner.resume("r-hitl", "again")


class FlakyBus(InMemoryEventBus):
    """Refuses the first `failures` publishes (an outage), then stores as usual."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, event: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("event bus unavailable")
        await super().publish(event)


async def test_an_event_bus_outage_fails_the_attempt_not_execute_and_leaves_no_gap() -> None:
    bus = FlakyBus(failures=1)  # RUN_STARTED of attempt 1 cannot be stored
    result = await AgentRunner(FAST, event_bus=bus).execute(Echo(), run_id="outage", input_data="hi")
    assert result.status is RunStatus.SUCCEEDED and result.attempts == 2
    events = await bus.get_events("outage")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type is EventType.RUN_SUCCEEDED


async def test_same_run_id_is_refused_even_while_the_bus_is_slow() -> None:
    class SlowBus(InMemoryEventBus):
        async def last_seq(self, run_id: str) -> int:
            await asyncio.sleep(0.05)
            return await super().last_seq(run_id)

    runner = AgentRunner(FAST, event_bus=SlowBus())
    first = asyncio.create_task(runner.execute(Sleeper(0.1), run_id="twice"))
    await asyncio.sleep(0)
    with pytest.raises(UserError, match="already executing"):
        await runner.execute(Sleeper(0.1), run_id="twice")
    assert (await first).status is RunStatus.SUCCEEDED


async def test_an_agents_own_timeout_error_is_not_the_runners_timeout() -> None:
    class WaitsTooLong(AgentRuntime):
        key = "waits"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            await asyncio.wait_for(asyncio.sleep(1), timeout=0.001)
            return RunResult()

    result = await AgentRunner(RunnerConfig(max_retries=0)).execute(WaitsTooLong())
    assert result.error is not None and result.error.type == "TimeoutError"
    assert "wait_for" in (result.error.traceback or "")


async def test_user_errors_are_not_retried() -> None:
    agent = Flaky(failures=5, exc=UserError)
    result = await AgentRunner(FAST).execute(agent)
    assert result.status is RunStatus.FAILED and agent.calls == 1 and result.error is not None
    assert result.error.retriable is False


_answers = (
    json_values()
    | hostile_json_text()
    | st.sampled_from([float("nan"), float("inf"), "a\udc80b", {"k": "\ud800"}, "x" * 1_000_001])
    | st.integers(130, 3000).map(lambda n: functools.reduce(lambda acc, _: [acc], range(n), 1))
)


@given(answer=_answers)
def test_any_resume_answer_resumes_the_run_or_is_refused_clearly(answer: Any) -> None:
    """The human's answer is input too: a result, or an `InvalidInputError` that names the limit
    (and the run stays interrupted, waiting for a usable answer). Never a crash."""

    class Approval(AgentRuntime):
        key = "approval"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            if not ctx.is_resuming:
                return RunResult(interrupt={"question": "Refund 42?"})
            return RunResult(final_output={"answer_type": type(ctx.resume_value).__name__})

    async def scenario() -> None:
        runner = AgentRunner(FAST)
        agent = Approval()
        await runner.execute(agent, run_id="r")
        try:
            resumed = await runner.resume("r", answer, agent=agent)
        except InvalidInputError as e:
            assert str(e).startswith("The resume answer ")
            events = await runner.event_bus.get_events("r")
            assert events[-1].type is EventType.RUN_INTERRUPTED  # still waiting
            return
        assert resumed.status is RunStatus.SUCCEEDED

    asyncio.run(scenario())
