"""The grammar as code: every event type has a payload spec, docs/events.md is rendered from it,
and the checker catches each rule's breach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core import Event, EventType
from agent_runtime_core.events.grammar import (
    PAYLOADS,
    RULES,
    GrammarChecker,
    GrammarError,
    check_events,
    grammar_markdown,
    payload_problems,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"

E = EventType


def stream(*items: tuple[EventType, dict[str, Any]] | tuple[EventType, dict[str, Any], str | None]) -> list[Event]:
    events = []
    for seq, item in enumerate(items, 1):
        kind, payload, span = (*item, None) if len(item) == 2 else item  # type: ignore[misc]
        events.append(Event("r", seq, kind, 0.0, payload, None, span))
    return events


START = (E.RUN_STARTED, {"agent_key": "a", "attempt": 1})
DONE = (E.RUN_SUCCEEDED, {"final_output": {"response": "ok"}})
ERROR = {"type": "ValueError", "message": "boom"}


def test_docs_events_md_is_rendered_from_the_grammar() -> None:
    assert DOC.read_text(encoding="utf-8") == grammar_markdown(), (
        "docs/events.md is out of date: regenerate it with "
        "`python -c 'from agent_runtime_core.events.grammar import grammar_markdown as g; "
        "open(\"docs/events.md\", \"w\").write(g())'`"
    )


def test_every_event_type_has_a_payload_spec_and_is_documented() -> None:
    assert set(PAYLOADS) == set(EventType)
    doc = grammar_markdown()
    for kind in EventType:
        assert f"`{kind.value}` ({kind.name})" in doc
    for rule in RULES:
        assert f"**{rule.id}**" in doc


def test_custom_events_have_a_name_and_data() -> None:
    assert E.CUSTOM.value == "custom"
    assert payload_problems(E.CUSTOM, {"name": "progress", "data": {"n": 1}}) == []
    assert payload_problems(E.CUSTOM, {"data": 1}) == ["needs `name`"]


def test_payload_problems_name_the_key_and_what_it_must_be() -> None:
    assert payload_problems(E.TOOL_RESULT, {"tool_call_id": "c", "name": "t"}) == [
        "needs exactly one of `result`, `error`"
    ]
    assert payload_problems(E.LLM_CALL_COMPLETED, {"model": "m", "usage": {"input_tokens": 1}})[0].startswith(
        "`usage` must be `{input_tokens: int, output_tokens: int}`"
    )
    assert "`kind` must be one of" in payload_problems(E.STEP_STARTED, {"name": "s", "kind": "bogus"})[0]
    assert payload_problems(E.STEP_FAILED, {"name": "s", "error": "text"})[0].startswith("`error` must be an error object")


def test_a_whole_stream_with_a_retry_and_a_resume_passes() -> None:
    check_events(
        stream(
            START,
            (E.STEP_STARTED, {"name": "s", "kind": "node"}),
            (E.STEP_FAILED, {"name": "s", "error": ERROR}),
            (E.RUN_RETRYING, {"attempt": 1, "error": ERROR, "delay_seconds": 0.1}),
            (E.RUN_STARTED, {"agent_key": "a", "attempt": 2}),
            (E.TOOL_CALL, {"tool_call_id": "c1", "name": "t", "arguments": {}}),
            (E.RUN_INTERRUPTED, {"interrupt": {"question": "ok?"}}),
            (E.RUN_STARTED, {"agent_key": "a", "attempt": 1}),
            (E.TOOL_CALL, {"tool_call_id": "c1", "name": "t", "arguments": {}}),
            (E.TOOL_RESULT, {"tool_call_id": "c1", "name": "t", "result": "done"}),
            DONE,
        ),
        strict=True,
    )


@pytest.mark.parametrize(
    ("events", "rule", "strict"),
    [
        (stream((E.STEP_STARTED, {"name": "s", "kind": "node"}), DONE), "starts", False),
        (stream(START, (E.STEP_COMPLETED, {"name": "s"}), DONE), "step-close", False),
        (stream(START, (E.LLM_CALL_COMPLETED, {"model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}), DONE),
         "llm-close", False),
        (stream(START, (E.TOOL_RESULT, {"tool_call_id": "x", "name": "t", "result": "r"}), DONE), "tool-answer", False),
        (stream(START, (E.TOOL_CALL, {"tool_call_id": "x", "name": "t", "arguments": {}}),
                (E.TOOL_RESULT, {"tool_call_id": "x", "name": "other", "result": "r"}), DONE), "tool-answer", False),
        (stream(START, (E.STEP_STARTED, {"name": "s", "kind": "node"}), DONE), "succeeded-closed", False),
        (stream(START, (E.LLM_CALL_STARTED, {"model": "m"}, "c1"), (E.RUN_FAILED, {"error": ERROR})), "all-closed", True),
        (stream(START, (E.TOOL_CALL, {"tool_call_id": "x", "name": "t", "arguments": {}}),
                (E.TOOL_RESULT, {"tool_call_id": "x", "name": "t", "result": "r"}),
                (E.TOOL_RESULT, {"tool_call_id": "x", "name": "t", "error": "again"}), DONE), "once", True),
        (stream(START, (E.STEP_STARTED, {"name": "s", "kind": "node"}),
                (E.STEP_COMPLETED, {"name": "s"}), (E.STEP_FAILED, {"name": "s", "error": ERROR}), DONE), "once", True),
        (stream(START, (E.CHECKPOINT, {}), DONE), "payload", False),
    ],
)
def test_each_rule_is_enforced(events: list[Event], rule: str, strict: bool) -> None:
    with pytest.raises(GrammarError, match=rf"^\[{rule}\]"):
        check_events(events, strict=strict)


def test_open_work_at_a_failure_is_allowed_unless_strict() -> None:
    events = stream(START, (E.STEP_STARTED, {"name": "s", "kind": "node"}), (E.RUN_FAILED, {"error": ERROR}))
    check_events(events)
    with pytest.raises(GrammarError, match=r"^\[all-closed\]"):
        check_events(events, strict=True)


def test_llm_calls_pair_by_span_id() -> None:
    usage = {"input_tokens": 1, "output_tokens": 2}
    check_events(
        stream(
            START,
            (E.LLM_CALL_STARTED, {"model": "a"}, "c1"),
            (E.LLM_CALL_STARTED, {"model": "b"}, "c2"),
            (E.LLM_CALL_COMPLETED, {"model": "b", "usage": usage}, "c2"),
            (E.LLM_CALL_FAILED, {"model": "a", "error": ERROR}, "c1"),
            DONE,
        ),
        strict=True,
    )


def test_checker_reports_other_runs_gaps_and_an_unfinished_stream() -> None:
    checker = GrammarChecker()
    checker.feed(Event("r", 1, E.RUN_STARTED, 0.0, {"agent_key": "a", "attempt": 1}))
    with pytest.raises(GrammarError, match=r"^\[one-run\]"):
        checker.feed(Event("other", 2, E.PROGRESS_UPDATE, 0.0, {"percent": 1}))
    checker = GrammarChecker()
    checker.feed(Event("r", 1, E.RUN_STARTED, 0.0, {"agent_key": "a", "attempt": 1}))
    with pytest.raises(GrammarError, match=r"^\[seq\]"):
        checker.feed(Event("r", 3, E.PROGRESS_UPDATE, 0.0, {"percent": 1}))
    with pytest.raises(GrammarError, match=r"^\[terminal\]"):
        check_events(stream(START))
