"""RunContext, ErrorInfo and the event payload helpers."""

from __future__ import annotations

import asyncio

import pytest

from agent_runtime_core import ErrorInfo, EventType, NonRetriableError, RunContext
from agent_runtime_core.context import current_run_context, use_run_context
from agent_runtime_core.errors import InvalidInputError, LLMError
from agent_runtime_core.events import Event, tool_arguments


class HTTPError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        (RuntimeError("x"), True),
        (NonRetriableError("x"), False),
        (LLMError("bad request", status_code=400, retriable=False), False),
        (LLMError("busy", status_code=429, retriable=True), True),
        (HTTPError(400), False),
        (HTTPError(401), False),
        (HTTPError(404), False),
        (HTTPError(408), True),
        (HTTPError(429), True),
        (HTTPError(503), True),
    ],
)
def test_error_info_knows_what_is_worth_retrying(exc: BaseException, retriable: bool) -> None:
    assert ErrorInfo.from_exception(exc).retriable is retriable


def test_error_info_round_trip() -> None:
    info = ErrorInfo.from_exception(ValueError("boom"))
    assert info.type == "ValueError" and "ValueError: boom" in (info.traceback or "")
    assert ErrorInfo.from_dict(info.to_dict()) == info


async def test_emit_assigns_gap_free_seq_even_when_concurrent() -> None:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        await asyncio.sleep(0)  # a slow bus: order must still hold
        published.append(event)

    ctx = RunContext(run_id="r", publish=publish, start_seq=10)
    await asyncio.gather(*(ctx.emit(EventType.PROGRESS_UPDATE, {"i": i}) for i in range(20)))
    assert [e.seq for e in published] == list(range(11, 31))
    assert ctx.last_seq == 30


async def test_emit_validates_type_and_payload() -> None:
    ctx = RunContext()
    assert (await ctx.emit("tool.call", {"name": "x"})).type is EventType.TOOL_CALL
    with pytest.raises(ValueError, match="Unknown event type"):
        await ctx.emit("tool.called")
    with pytest.raises(TypeError):
        await ctx.emit(EventType.TOOL_CALL, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_input_messages_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        RunContext(input_messages=[{"content": "no role"}])
    assert RunContext(run_id=None).run_id  # a fresh uuid


async def test_checkpoint_needs_a_state_store() -> None:
    with pytest.raises(RuntimeError, match="no state store"):
        await RunContext().checkpoint({"a": 1})
    assert await RunContext().get_checkpoint() is None


def test_use_run_context_sets_and_restores() -> None:
    ctx = RunContext()
    with use_run_context(ctx):
        assert current_run_context() is ctx
    assert current_run_context() is None


def test_tool_arguments_convention() -> None:
    assert tool_arguments('{"city": "Paris"}') == {"city": "Paris"}
    assert tool_arguments({"city": "Paris"}) == {"city": "Paris"}
    assert tool_arguments("not json") == "not json"
    assert tool_arguments("[1, 2]") == "[1, 2]"
