"""The translation kit: `RunRecorder` turns an adapter's facts into the grammar, pairs and nests
what it opens, closes each exactly once, and the value helpers read every framework's shapes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    Event,
    EventType,
    RunContext,
    RunResult,
    RunStatus,
)
from agent_runtime_core.events.grammar import check_events
from agent_runtime_core.integration import (
    RunRecorder,
    error_info,
    message_text,
    result_text,
    to_jsonable,
    usage_of,
)
from agent_runtime_core.testing import create_test_context

E = EventType


async def started() -> Any:
    ctx = create_test_context()
    await ctx.emit(E.RUN_STARTED, {"agent_key": "a", "attempt": 1})
    return ctx


def closes_per_open(events: list[Event]) -> Counter[tuple[str, str]]:
    """How many times each opened step, model call and tool call was closed."""
    opens = {E.STEP_STARTED: "step", E.LLM_CALL_STARTED: "llm", E.TOOL_CALL: "tool"}
    closes = {E.STEP_COMPLETED: "step", E.STEP_FAILED: "step", E.LLM_CALL_COMPLETED: "llm",
              E.LLM_CALL_FAILED: "llm", E.TOOL_RESULT: "tool"}
    count: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.type in opens:
            count[(opens[e.type], str(e.span_id))] += 0
        elif e.type in closes:
            count[(closes[e.type], str(e.span_id))] += 1
    return count


async def test_a_run_of_facts_becomes_the_grammar_with_usage_totals() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    step = await rec.step_started("weather", "agent")
    call = await rec.llm_call_started("gpt-4o", call_id="resp_1", provider="openai")
    await rec.llm_delta(call, "Let me ")
    await rec.llm_delta(call, "check.")
    await rec.llm_call_completed(call, usage={"prompt_tokens": 10, "completion_tokens": 3}, finish_reason="tool_calls")
    await rec.tool_call("get_weather", '{"city": "Paris"}', call_id="call_1")
    await rec.tool_result("call_1", {"temp": 22})
    call = await rec.llm_call_started("gpt-4o")
    await rec.llm_call_completed(call, usage=None)
    await rec.assistant_message([{"type": "text", "text": "Sunny"}])
    await rec.custom("stream-writer", {"progress": (1, 2)})
    result = await rec.finished({"role": "assistant", "content": "Sunny"}, agent="weather")
    await ctx.emit(E.RUN_SUCCEEDED, {"final_output": result.final_output})

    check_events(ctx.events, strict=True)
    assert [e.type for e in ctx.events] == [
        E.RUN_STARTED, E.STEP_STARTED, E.LLM_CALL_STARTED, E.ASSISTANT_DELTA, E.ASSISTANT_DELTA,
        E.LLM_CALL_COMPLETED, E.TOOL_CALL, E.TOOL_RESULT, E.LLM_CALL_STARTED, E.LLM_CALL_COMPLETED,
        E.ASSISTANT_MESSAGE, E.CUSTOM, E.STEP_COMPLETED, E.RUN_SUCCEEDED,
    ]
    payloads = [e.payload for e in ctx.events]
    assert payloads[2] == {"model": "gpt-4o", "provider": "openai"}
    assert payloads[5] == {"model": "gpt-4o", "usage": {"input_tokens": 10, "output_tokens": 3}, "finish_reason": "tool_calls"}
    assert payloads[6] == {"tool_call_id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    assert payloads[7] == {"tool_call_id": "call_1", "name": "get_weather", "result": '{"temp": 22}'}
    assert payloads[9]["usage_reported"] is False
    assert payloads[10] == {"content": "Sunny"}
    assert payloads[11] == {"name": "stream-writer", "data": {"progress": [1, 2]}}
    assert {e.step for e in ctx.events[1:-1]} == {"weather"}
    assert ctx.events[3].span_id == ctx.events[2].span_id == "resp_1"
    assert rec.usage.to_dict() == {"input_tokens": 10, "output_tokens": 3, "calls": 2}
    assert result.final_output == {"response": "Sunny", "agent": "weather"}
    assert step not in rec.open_steps


async def test_a_failure_inside_a_step_closes_everything_open_exactly_once_innermost_first() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    with pytest.raises(ValueError):
        async with rec:
            outer = await rec.step_started("graph", "node")
            await rec.llm_call_started("m", call_id="done")
            await rec.llm_call_completed("done", usage={"input_tokens": 1, "output_tokens": 1})
            inner = await rec.step_started("subgraph", "node")
            await rec.llm_call_started("m", call_id="open-call")
            await rec.tool_call("search", {"q": "x"}, call_id="open-tool")
            raise ValueError("the framework broke")
    info = error_info(ValueError("the framework broke"))
    await ctx.emit(E.RUN_FAILED, {"error": info.to_dict()})

    check_events(ctx.events, strict=True)
    assert all(n == 1 for n in closes_per_open(ctx.events).values()), closes_per_open(ctx.events)
    tail = [(e.type, e.span_id) for e in ctx.events[-5:-1]]
    assert tail == [(E.TOOL_RESULT, "open-tool"), (E.LLM_CALL_FAILED, "open-call"), (E.STEP_FAILED, inner), (E.STEP_FAILED, outer)]
    assert ctx.events[-5].payload["error"] == "ValueError: the framework broke"
    assert ctx.events[-4].payload["error"] == {"type": "ValueError", "message": "the framework broke", "retriable": True}
    # Closing again, or failing again, emits nothing more.
    n = len(ctx.events)
    assert await rec.step_completed(outer) is False
    assert await rec.tool_result("open-tool", "late") is False
    assert await rec.llm_call_completed("open-call") is False
    await rec.failed(RuntimeError("again"))
    assert len(ctx.events) == n


async def test_a_cancel_closes_open_work_as_cancelled() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    await rec.step_started("agent", "agent")
    await rec.llm_call_started("m")
    info = await rec.failed(asyncio.CancelledError())
    assert info.type == "RunCancelledError" and info.retriable is False
    assert [e.payload["error"]["type"] for e in ctx.events[-2:]] == ["RunCancelledError", "RunCancelledError"]


async def test_step_failed_closes_what_is_inside_it_only() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    a = await rec.step_started("a", "task")
    b = await rec.step_started("b", "agent")
    await rec.llm_call_started("m", call_id="in-b")
    other = await rec.step_started("c", "task", parent=None)  # a sibling, not inside a
    await rec.step_failed(a, "task failed")
    closed = [(e.type, e.span_id) for e in ctx.events[-3:]]
    assert closed == [(E.LLM_CALL_FAILED, "in-b"), (E.STEP_FAILED, b), (E.STEP_FAILED, a)]
    assert rec.open_steps == [other]
    assert ctx.events[-1].payload["error"] == {"type": "Error", "message": "task failed", "retriable": True}


async def test_nested_steps_name_their_parent_and_tag_their_events() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    outer = await rec.step_started("triage", "agent", step_id="s1")
    await rec.step_started("handoff:triage->weather", "handoff")
    await rec.llm_call_started("m", step=outer)
    starts = [e for e in ctx.events if e.type is E.STEP_STARTED]
    assert "parent_step" not in starts[0].payload
    assert starts[1].payload["parent_step"] == "triage"
    assert ctx.events[-1].step == "triage"  # the explicit step, not the innermost one
    assert rec.step_name("s1") == "triage" and rec.current_step != "s1"


async def test_closes_that_were_never_opened_open_first() -> None:
    """A tool call made before a resume (its TOOL_CALL in an earlier execution) or a model call
    whose start a framework lost still make a pair."""
    ctx = await started()
    rec = RunRecorder(ctx)
    assert await rec.tool_result("call_9", error=ValueError("no"), name="lookup", arguments='{"a": 1}')
    assert await rec.llm_call_completed("lost", model="m", usage={"input_tokens": 2, "output_tokens": 1})
    types = [(e.type, e.payload.get("name") or e.payload.get("model")) for e in ctx.events[1:]]
    assert types == [(E.TOOL_CALL, "lookup"), (E.TOOL_RESULT, "lookup"), (E.LLM_CALL_STARTED, "m"), (E.LLM_CALL_COMPLETED, "m")]
    assert ctx.events[1].payload["arguments"] == {"a": 1}
    assert ctx.events[2].payload["error"] == "ValueError: no"


async def test_interrupted_completes_steps_and_leaves_tool_calls_waiting() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    await rec.step_started("node", "node")
    await rec.tool_call("transfer", {}, call_id="c1")
    result = await rec.interrupted("Allow the transfer?", tool_call_id="c1")
    await ctx.emit(E.RUN_INTERRUPTED, {"interrupt": result.interrupt})
    check_events(ctx.events, strict=True)
    assert result.interrupt == {"question": "Allow the transfer?", "tool_call_id": "c1"}
    assert ctx.events[-2].payload == {"name": "node", "kind": "node", "interrupted": True}
    assert rec.is_open("tool", "c1")


async def test_finished_closes_a_call_whose_end_never_came() -> None:
    ctx = await started()
    rec = RunRecorder(ctx)
    await rec.step_started("s")
    await rec.llm_call_started("m", call_id="c")
    result = await rec.finished("done")
    assert [e.type for e in ctx.events[-2:]] == [E.LLM_CALL_FAILED, E.STEP_COMPLETED]
    assert ctx.events[-2].payload["error"]["type"] == "Unfinished"
    assert result.final_output == {"response": "done"}


class _KitAgent(AgentRuntime):
    """A plain AgentRuntime built on the kit, failing inside a tool of a nested step."""

    @property
    def key(self) -> str:
        return "kit"

    async def run(self, ctx: RunContext) -> RunResult:
        async with RunRecorder(ctx) as rec:
            await rec.step_started("plan", "step")
            call = await rec.llm_call_started("m")
            await rec.llm_call_completed(call, usage={"input_tokens": 1, "output_tokens": 1})
            await rec.tool_call("explode", None)
            raise RuntimeError("tool exploded")
        raise AssertionError("unreachable")


async def test_through_the_runner_a_failing_run_is_strictly_balanced() -> None:
    runner = AgentRunner()
    result = await runner.execute(_KitAgent(), run_id="kit-run")
    assert result.status is RunStatus.FAILED
    events = await runner.event_bus.get_events("kit-run")
    check_events(events, strict=True)
    assert events[-1].type is E.RUN_FAILED


# -- values ------------------------------------------------------------------------------------


@dataclass
class _Part:
    text: str


class _Message:
    def __init__(self, content: Any) -> None:
        self.content = content


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("plain", "plain"),
        ([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, "b"], "ab"),
        ([{"type": "output_text", "text": "x"}, {"type": "refusal", "refusal": "no"}], "xno"),
        ({"role": "assistant", "content": [{"type": "text", "text": "hi"}]}, "hi"),
        (_Message([_Part("obj"), {"text": "dict"}]), "objdict"),
        (_Message(None), ""),
        (42, ""),
    ],
)
def test_message_text_reads_every_framework_shape(value: Any, text: str) -> None:
    assert message_text(value) == text


def test_to_jsonable_copies_only_what_it_must() -> None:
    plain = {"a": [1, "x", {"b": None}], "c": 2.5}
    assert to_jsonable(plain) is plain

    class Model:
        def model_dump(self, mode: str) -> dict[str, Any]:
            return {"mode": mode}

    assert to_jsonable({"m": Model(), "t": (1, 2), 3: {1}}) == {"m": {"mode": "json"}, "t": [1, 2], "3": [1]}
    assert to_jsonable(_Part("x")) == {"text": "x"}
    assert to_jsonable(object()).startswith("<object")


def test_usage_of_any_shape() -> None:
    class SDKUsage:
        input_tokens = 5
        output_tokens = 7

    assert usage_of(SDKUsage()) == ({"input_tokens": 5, "output_tokens": 7}, True)
    assert usage_of({"prompt_tokens": 3, "completion_tokens": 4}) == ({"input_tokens": 3, "output_tokens": 4}, True)
    assert usage_of({}) == ({"input_tokens": 0, "output_tokens": 0}, False)
    assert usage_of(None) == ({"input_tokens": 0, "output_tokens": 0}, False)

    class GeminiUsage:  # google-genai's usage metadata (Google ADK)
        prompt_token_count = 24
        candidates_token_count = 7
        total_token_count = 31

    assert usage_of(GeminiUsage()) == ({"input_tokens": 24, "output_tokens": 7}, True)
    assert usage_of({"input_tokens": None, "prompt_tokens": 2}) == ({"input_tokens": 2, "output_tokens": 0}, True)


def test_result_text() -> None:
    assert result_text("s") == "s"
    assert result_text(None) == ""
    assert result_text([{"type": "text", "text": "part"}]) == "part"
    assert result_text(_Message("tool says")) == "tool says"
    assert result_text({"k": "é"}) == '{"k": "é"}'


class _TracedAgent(AgentRuntime):
    @property
    def key(self) -> str:
        return "traced"

    async def run(self, ctx: RunContext) -> RunResult:
        rec = RunRecorder(ctx)
        await rec.step_started("agent", "agent")
        call = await rec.llm_call_started("m")
        await rec.llm_call_completed(call, usage={"input_tokens": 4, "output_tokens": 2})
        await rec.tool_call("lookup", {"q": 1}, call_id="c1")
        await rec.tool_result("c1", "found")
        await rec.custom("writer", {"n": 1})
        return await rec.finished("done")


async def test_trace_spans_follow_from_the_kits_events() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agent_runtime_core.tracing import OpenTelemetryTraceSink

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = AgentRunner(trace_sink=OpenTelemetryTraceSink(tracer_provider=provider, record_content=True))
    result = await runner.execute(_TracedAgent(), run_id="traced")
    assert result.status is RunStatus.SUCCEEDED
    spans = {span.name: span for span in exporter.get_finished_spans()}
    step, chat, tool = spans["agent"], spans["chat m"], spans["execute_tool lookup"]
    assert chat.parent is not None and chat.parent.span_id == step.context.span_id
    assert tool.parent is not None and tool.parent.span_id == step.context.span_id
    assert chat.attributes is not None and chat.attributes["gen_ai.usage.input_tokens"] == 4
    (custom,) = [e for e in step.events if e.name == "agent_runtime.custom"]
    assert custom.attributes is not None and custom.attributes["agent_runtime.custom.name"] == "writer"
