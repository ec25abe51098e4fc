"""Translation kit micro-benchmark: what one translated event costs, framework left out.

One "run" is the event sequence an OpenAI Agents weather run translates into (an agent step, two
model calls with three streamed deltas each and usage, a tool call and its result, the answer):
15 events. Ours: an adapter's facts reported to a `RunRecorder` (payload building, bookkeeping,
usage, message text, the redaction at `RunContext.emit`, the event into an `InMemoryEventBus`).
Baseline: the same 14 events, payloads prebuilt, straight into the bus (`bus.publish(Event(...))`):
what an event costs with no translation at all. Measured in the same process, interleaved; a
third row has a configured secret registered (redaction on the value path for every string).

    python -m bench.translation [--quick]

Target (issue 15): <= 20 µs per translated event.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from agent_runtime_core import Event, EventType, RunContext, _secrets
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.integration import RunRecorder
from bench._harness import Row, Stat, Table, ratios

TARGET_US = 20.0
EVENTS_PER_RUN = 15
ANSWER = ["The weather in Paris", ": Sunny, 22°C", " in Paris."]


class _Usage:  # what an SDK's usage object looks like
    input_tokens = 52
    output_tokens = 17


async def _ours(runs: int) -> float:
    bus = InMemoryEventBus()
    usage = _Usage()
    t0 = time.perf_counter()
    for i in range(runs):
        ctx = RunContext(run_id=f"ours-{i}", agent_key="bench", publish=bus.publish)
        rec = RunRecorder(ctx)
        step = await rec.step_started("weather", "agent")
        call = await rec.llm_call_started("gpt-4o-mini", call_id="resp_1")
        for piece in ("I will ", "check the ", "weather."):
            await rec.llm_delta(call, piece)
        await rec.llm_call_completed(call, usage=usage, response_id="resp_1")
        await rec.tool_call("get_weather", '{"city": "Paris"}', call_id="call_1")
        await rec.tool_result("call_1", "Sunny, 22°C in Paris")
        call = await rec.llm_call_started("gpt-4o-mini", call_id="resp_2")
        for piece in ANSWER:
            await rec.llm_delta(call, piece)
        await rec.llm_call_completed(call, usage=usage, response_id="resp_2")
        await rec.assistant_message({"role": "assistant", "content": [{"type": "output_text", "text": "".join(ANSWER)}]})
        await rec.step_completed(step)
    return time.perf_counter() - t0


def _payloads() -> list[tuple[EventType, dict[str, Any], str | None, str | None]]:
    usage = {"input_tokens": 52, "output_tokens": 17}
    s = "weather"
    return [
        (EventType.STEP_STARTED, {"name": s, "kind": "agent"}, s, "step1"),
        (EventType.LLM_CALL_STARTED, {"model": "gpt-4o-mini"}, s, "resp_1"),
        *[(EventType.ASSISTANT_DELTA, {"text": t}, s, "resp_1") for t in ("I will ", "check the ", "weather.")],
        (EventType.LLM_CALL_COMPLETED, {"model": "gpt-4o-mini", "usage": usage, "response_id": "resp_1"}, s, "resp_1"),
        (EventType.TOOL_CALL, {"tool_call_id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}, s, "call_1"),
        (EventType.TOOL_RESULT, {"tool_call_id": "call_1", "name": "get_weather", "result": "Sunny, 22°C in Paris"}, s, "call_1"),
        (EventType.LLM_CALL_STARTED, {"model": "gpt-4o-mini"}, s, "resp_2"),
        *[(EventType.ASSISTANT_DELTA, {"text": t}, s, "resp_2") for t in ANSWER],
        (EventType.LLM_CALL_COMPLETED, {"model": "gpt-4o-mini", "usage": usage, "response_id": "resp_2"}, s, "resp_2"),
        (EventType.ASSISTANT_MESSAGE, {"content": "".join(ANSWER)}, s, None),
        (EventType.STEP_COMPLETED, {"name": s, "kind": "agent"}, s, "step1"),
    ]


async def _baseline(runs: int) -> float:
    bus = InMemoryEventBus()
    events = _payloads()
    assert len(events) == EVENTS_PER_RUN
    t0 = time.perf_counter()
    for i in range(runs):
        run_id = f"base-{i}"
        for seq, (kind, payload, step, span) in enumerate(events, 1):
            await bus.publish(Event(run_id, seq, kind, time.time(), payload, step, span))
    return time.perf_counter() - t0


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    runs = 300 if quick else 5_000
    ours_s: list[float] = []
    secret_s: list[float] = []
    base_s: list[float] = []

    async def main() -> None:
        await _ours(200)  # warm up
        await _baseline(200)
        known = set(_secrets._known)
        for _ in range(repeats):
            gc.collect()
            ours_s.append(await _ours(runs))
            gc.collect()
            base_s.append(await _baseline(runs))
            _secrets.register_secret("cfg-benchmark-secret-value-123")
            gc.collect()
            secret_s.append(await _ours(runs))
            _secrets._known.clear()
            _secrets._known.update(known)

    asyncio.run(main())
    n = runs * EVENTS_PER_RUN
    per = Stat([s / n * 1e6 for s in ours_s])
    per_secret = Stat([s / n * 1e6 for s in secret_s])
    base = Stat([s / n * 1e6 for s in base_s])
    added = Stat([(o - b) / n * 1e6 for o, b in zip(ours_s, base_s, strict=True)])
    table = Table("Translation kit: one translated event (RunRecorder -> RunContext.emit -> in-memory bus)",
                  repeats=repeats)
    table.add(Row("time per event", per, "µs", base, ratios(ours_s, base_s),
                  target=f"<= {TARGET_US:.0f} µs", met=per.median <= TARGET_US))
    table.add(Row("  with a configured secret", per_secret, "µs", base, ratios(secret_s, base_s),
                  target=f"<= {TARGET_US:.0f} µs", met=per_secret.median <= TARGET_US))
    table.add(Row("added by translation", added, "µs"))
    table.notes.append(f"{runs:,} runs x {EVENTS_PER_RUN} events per repeat; baseline: the same events, "
                       "payloads prebuilt, `bus.publish(Event(...))` with no RunContext, recorder or redaction.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
