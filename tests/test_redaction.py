"""One redaction boundary: a configured secret of any shape, wherever it was put, reaches no
event, trace, stored byte, result or log record of ours."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    RunStatus,
    Tool,
    ToolRegistry,
    _secrets,
    configure,
)
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core._redaction import get_logger
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.llm import use_llm_client
from agent_runtime_core.llm.openai import OpenAIClient
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing import (
    OpenAICompatibleServer,
    ScriptedModel,
    ScriptRequest,
    call_tool,
    fail,
    reply,
)
from agent_runtime_core.testing.conformance import WEATHER_QUESTION
from agent_runtime_core.tracing import JSONLinesTraceSink

# Not key-shaped (no `sk-`): only its configuration can tell it is a secret.
KEY = "cfg-Zx81Qm2LkP0aT9vWq7Hn"
ROOT = Path(__file__).resolve().parent.parent


def leaks(text: str) -> bool:
    """Whether `text` shows the key, or a long piece of it."""
    return any(KEY[i : i + 10] in text for i in range(len(KEY) - 9))


# -- the primitives ------------------------------------------------------------------------------


def test_redact_value_masks_keys_and_values_and_copies_only_on_change() -> None:
    _secrets.register_secret(KEY)
    clean = {"a": [1, "x", {"b": None}], "c": ("t", 2.5)}
    assert _secrets.redact_value(clean) is clean
    dirty = {"ok": "fine", "nested": [{"msg": f"key={KEY}"}], KEY: "as a key", "t": ("sk-abcdefghijkl",)}
    out = _secrets.redact_value(dirty)
    assert not leaks(json.dumps(out)) and "abcdefghijkl" not in json.dumps(out)
    assert out["nested"][0]["msg"] == "key=***" and out["t"] == ("***",)
    assert out["ok"] is dirty["ok"] and dirty["nested"][0]["msg"] == f"key={KEY}"  # the original is untouched


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=12), st.sampled_from(["", "x ", "end: "]))
def test_streamed_pieces_never_show_a_split_secret(cuts: list[int], prefix: str) -> None:
    _secrets.register_secret(KEY)
    text = f"{prefix}the key {KEY} and sk-proj-abcdefghijklmnop, then more words."
    pieces, rest = [], text
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    redactor = _secrets.StreamRedactor()
    shown = [redactor.feed(piece) for piece in pieces] + [redactor.flush()]
    assert "".join(shown) == _secrets.redact(text)
    assert not any(leaks(piece) or "abcdefghij" in piece for piece in shown)


def test_every_logger_of_the_core_is_a_redacting_one() -> None:
    for path in (ROOT / "agent_runtime_core").rglob("*.py"):
        if path.name != "_redaction.py":
            assert "logging.getLogger(" not in path.read_text(encoding="utf-8"), f"{path}: use _redaction.get_logger"


def test_every_logger_of_the_adapters_is_a_redacting_one() -> None:
    """An adapter's own loggers come from the kit's `get_logger` (setting a framework's logger's
    level with `logging.getLogger(...)` is fine: it logs nothing of ours)."""
    import re

    own = re.compile(r"^\s*\w+\s*(?::\s*[\w.]+\s*)?=\s*logging\.getLogger\(", re.M)
    paths = list((ROOT / "adapters").glob("*/agent_runtime_*/**/*.py"))
    assert len(paths) >= 10
    for path in paths:
        assert not own.search(path.read_text(encoding="utf-8")), f"{path}: use agent_runtime_core.integration.get_logger"


def test_log_records_are_redacted_message_arguments_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    configure(openai_api_key=KEY)
    logger = get_logger("agent_runtime_core.test_redaction")
    with caplog.at_level(logging.DEBUG, logger="agent_runtime_core.test_redaction"):
        logger.warning("provider said %s", f"bad key {KEY}")
        try:
            raise RuntimeError(f"401: {KEY}")
        except RuntimeError:
            logger.exception("call failed")
    assert len(caplog.records) == 2
    for record in caplog.records:
        assert not leaks(record.getMessage()) and not leaks(record.exc_text or "")
    assert "RuntimeError: 401: ***" in (caplog.records[1].exc_text or "")
    assert not leaks(caplog.text)


async def test_emit_redacts_without_changing_the_callers_payload() -> None:
    configure(openai_api_key=KEY)
    seen = []

    async def publish(event: Any) -> None:
        seen.append(event)

    ctx = RunContext(run_id="r", publish=publish)
    payload = {"content": f"here: {KEY}"}
    await ctx.emit(EventType.ASSISTANT_MESSAGE, payload)
    assert seen[0].payload == {"content": "here: ***"} and payload["content"] == f"here: {KEY}"
    for piece in ("the key is cfg-Zx81", "Qm2LkP0aT9vWq7Hn, ok"):  # split across two deltas
        await ctx.emit(EventType.ASSISTANT_DELTA, {"text": piece}, span_id="call-1")
    await ctx.emit(EventType.LLM_CALL_COMPLETED, {"model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}, span_id="call-1")
    deltas = [e.payload["text"] for e in seen if e.type is EventType.ASSISTANT_DELTA]
    assert "".join(deltas) == "the key is ***, ok" and not any(leaks(d) for d in deltas)
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))


# -- whole runs ------------------------------------------------------------------------------------


class _Careless(AgentRuntime):
    """Puts the key everywhere it can: events of its own making, a checkpoint, a stored value, its
    result, a log record; or it raises with it."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails

    @property
    def key(self) -> str:
        return "careless"

    async def run(self, ctx: RunContext) -> RunResult:
        logger = get_logger("agent_runtime_core.careless")
        logger.warning("using key %s", KEY)
        await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": "c", "name": "t", "error": f"denied for {KEY}"})
        await ctx.emit(EventType.CUSTOM, {"name": "raw", "data": {"headers": {"authorization": KEY}}})
        await ctx.checkpoint({"messages": [{"role": "tool", "content": f"ValueError: {KEY}"}]})
        assert ctx.state_store is not None
        await ctx.state_store.set("careless:extra", {"note": KEY})
        if not self.fails:
            return RunResult(final_output={"response": f"the key is {KEY}"}, final_messages=[{"role": "assistant", "content": KEY}])
        raise RuntimeError(f"upstream rejected {KEY}")


def _written(db: Path, trace: Path) -> str:
    """The SQLite file's raw bytes (its -wal and -shm too) and the trace file, as text."""
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*")) + trace.read_bytes()
    return raw.decode("utf-8", "replace")


async def _check_nothing_leaked(runner: AgentRunner, run_id: str, result: RunResult, db: Path, trace: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = await runner.event_bus.get_events(run_id)
    assert events
    assert not leaks(json.dumps([e.to_dict() for e in events], ensure_ascii=False))
    assert runner.trace_sink is not None
    await runner.trace_sink.close()
    assert not leaks(_written(db, trace))
    assert not leaks(json.dumps([result.final_output, result.final_messages, result.interrupt,
                                 result.error.to_dict() if result.error else None], default=str))
    for record in caplog.records:
        if record.name.startswith("agent_runtime"):  # ours (a framework's own logs are its own)
            assert not leaks(record.getMessage()) and not leaks(record.exc_text or ""), record


@pytest.mark.parametrize("fails", [False, True])
async def test_a_careless_agent_leaks_nothing(fails: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    configure(openai_api_key=KEY)
    db, trace = tmp_path / "state.db", tmp_path / "trace.jsonl"
    store = SQLiteStateStore(db)
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store,
                         trace_sink=JSONLinesTraceSink(trace))
    caplog.set_level(logging.DEBUG)
    result = await runner.execute(_Careless(fails), run_id="leaky", input_data="hi")
    if fails:
        assert result.status is RunStatus.FAILED and result.error is not None
        assert "upstream rejected ***" in result.error.message
    else:
        assert result.status is RunStatus.SUCCEEDED and result.final_output == {"response": "the key is ***"}
    assert await store.get_checkpoint("leaky") == {"messages": [{"role": "tool", "content": "ValueError: ***"}]}
    await store.close()
    await _check_nothing_leaked(runner, "leaky", result, db, trace, caplog)


def _failing_tool(city: str) -> str:
    """Get the weather.

    Args:
        city: The city.
    """
    raise ValueError(f"weather service refused key {KEY} for {city}")


def _echo_model() -> ScriptedModel:
    def answer(request: ScriptRequest) -> str:
        return f"Sorry: {request.tool_results[-1].content}" if request.tool_results else "Sorry."

    return ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply(answer)])


@pytest.mark.parametrize("where", ["tool exception", "model error body"])
async def test_plain_runtime_key_in_a_tool_error_or_a_model_error_leaks_nowhere(
    where: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configure(openai_api_key=KEY)
    if where == "tool exception":
        model = _echo_model()
    else:
        model = ScriptedModel([fail(400, f"Incorrect API key provided: {KEY}.", times=None)])
    server = OpenAICompatibleServer(model).start()
    db, trace = tmp_path / "state.db", tmp_path / "trace.jsonl"
    store = SQLiteStateStore(db)
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store,
                         trace_sink=JSONLinesTraceSink(trace))
    client = OpenAIClient(api_key=KEY, base_url=server.base_url, default_model="m")
    caplog.set_level(logging.DEBUG)
    try:
        agent = DemoToolAgent(ToolRegistry([Tool.from_function(_failing_tool, name="get_weather")]))
        with use_llm_client(client):
            result = await runner.execute(agent, run_id="plain", input_data=WEATHER_QUESTION)
    finally:
        await client.aclose()
        server.stop()
        await store.close()
    if where == "tool exception":
        assert result.status is RunStatus.SUCCEEDED
        assert "refused key ***" in result.final_output["response"]
    else:
        assert result.status is RunStatus.FAILED and result.error is not None
        assert "Incorrect API key provided: ***" in result.error.message
    await _check_nothing_leaked(runner, "plain", result, db, trace, caplog)
