"""The event grammar as code: what each event's payload holds, and in which order events come.

One table (`PAYLOADS`) says, for every `EventType`, which payload keys it carries and of what kind;
one list (`RULES`) says how events of a run follow each other. `GrammarChecker` enforces both, event
by event, and `check_events` over a whole stream; the conformance suite
(`agent_runtime_core.testing.conformance`) is built on them, and `docs/events.md` is rendered from
them by `grammar_markdown()` (a test keeps the two equal).

Payloads may carry more keys than listed (a framework's extras: a LangGraph `superstep`, a CrewAI
`task_index`); consumers ignore keys they do not know. Keys listed are never renamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import TERMINAL_EVENT_TYPES, Event, EventType

__all__ = [
    "PAYLOADS",
    "RULES",
    "STEP_KINDS",
    "Field",
    "GrammarChecker",
    "GrammarError",
    "PayloadSpec",
    "Rule",
    "check_events",
    "grammar_markdown",
    "payload_problems",
]

STEP_KINDS = frozenset({"node", "task", "agent", "step", "handoff"})
"""What a step can be: a graph node (LangGraph), a task (CrewAI), an agent (CrewAI, OpenAI Agents),
a `Step` of `StepExecutor`, or a handoff between agents."""


class GrammarError(AssertionError):
    """A run's events broke the grammar; the message names the rule and the event."""


# -- payload kinds -----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_error(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("type"), str)
        and isinstance(value.get("message"), str)
    )


def _is_usage(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        _is_int(value.get(key)) and value[key] >= 0 for key in ("input_tokens", "output_tokens")
    )


_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "str": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", _is_int),
    "number": ("a number", _is_number),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "object": ("an object", lambda v: isinstance(v, Mapping)),
    "json": ("any JSON value", lambda v: True),
    "step_kind": ("one of " + ", ".join(sorted(STEP_KINDS)), lambda v: v in STEP_KINDS),
    "error": (
        "an error object: `type` (str), `message` (str), optional `retriable` (bool), "
        "`details` (object), `traceback` (str, on run events)",
        _is_error,
    ),
    "usage": ("`{input_tokens: int, output_tokens: int}`", _is_usage),
}
"""Payload value kinds: name -> (how the docs describe it, check)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One payload key of an event type."""

    name: str
    """The key."""
    kind: str
    """What its value is: a key of the kinds table (`str`, `int`, `error`, `usage`, ...)."""
    doc: str
    """What it means."""
    required: bool = True
    """Whether every event of the type carries it."""


@dataclass(frozen=True, slots=True)
class PayloadSpec:
    """The payload of one event type."""

    type: EventType
    """The event type."""
    doc: str
    """When the event is emitted."""
    fields: tuple[Field, ...]
    """Its keys."""
    one_of: tuple[str, ...] = ()
    """Keys of which exactly one is present (TOOL_RESULT: `result` or `error`)."""


def _spec(event_type: EventType, doc: str, *fields: Field, one_of: tuple[str, ...] = ()) -> PayloadSpec:
    return PayloadSpec(event_type, doc, fields, one_of)


def _opt(name: str, kind: str, doc: str) -> Field:
    return Field(name, kind, doc, required=False)


_E = EventType
_STEP_NAME = Field("name", "str", "The step's name (a node, task or agent name).")
_STEP_KIND = _opt("kind", "step_kind", "What the step is.")

PAYLOADS: Mapping[EventType, PayloadSpec] = {
    spec.type: spec
    for spec in (
        _spec(_E.RUN_STARTED, "An attempt of the run began (again after a retry or a resume).",
              Field("agent_key", "str", "The agent's key."),
              Field("attempt", "int", "Which attempt, from 1.")),
        _spec(_E.RUN_RETRYING, "An attempt failed and another follows after a delay.",
              Field("attempt", "int", "The attempt that failed."),
              Field("error", "error", "Why it failed."),
              Field("delay_seconds", "number", "The wait before the next attempt.")),
        _spec(_E.RUN_SUCCEEDED, "The run finished.",
              Field("final_output", "object", "The result, with `response` (str), the final answer.")),
        _spec(_E.RUN_FAILED, "The run failed for good.",
              Field("error", "error", "Why."),
              _opt("attempts", "int", "How many attempts were made.")),
        _spec(_E.RUN_CANCELLED, "The run was cancelled.",
              Field("reason", "str", "Why (the reason given to `cancel`).")),
        _spec(_E.RUN_INTERRUPTED, "The run paused for a human; `AgentRunner.resume` continues it.",
              Field("interrupt", "json", "The question (an object with `question` where the framework has one).")),
        _spec(_E.STEP_STARTED, "A step (node, task, agent, `Step`, handoff) began.",
              _STEP_NAME,
              Field("kind", "step_kind", "What the step is."),
              _opt("parent_step", "str", "The enclosing step's name, for a nested step.")),
        _spec(_E.STEP_COMPLETED, "A step finished.",
              _STEP_NAME, _STEP_KIND,
              _opt("interrupted", "bool", "True when the step stopped for a human (it runs again on resume).")),
        _spec(_E.STEP_FAILED, "A step failed (after its retries), or the run stopped while it was open.",
              _STEP_NAME, _STEP_KIND,
              Field("error", "error", "Why.")),
        _spec(_E.STEP_RETRYING, "A step failed and is retried; it stays open.",
              _STEP_NAME,
              Field("attempt", "int", "The attempt that failed."),
              Field("error", "error", "Why.")),
        _spec(_E.STEP_SKIPPED, "A step was skipped: it completed before a resume.",
              _STEP_NAME, _STEP_KIND),
        _spec(_E.PROGRESS_UPDATE, "Progress of the run.",
              Field("percent", "number", "From 0 to 100.")),
        _spec(_E.LLM_CALL_STARTED, "A model call began.",
              Field("model", "str", "The model's name."),
              _opt("provider", "str", "Who serves it (`openai`, `anthropic`, ...).")),
        _spec(_E.LLM_CALL_COMPLETED, "A model call returned.",
              Field("model", "str", "The model's name (as the response reports it, where it does)."),
              Field("usage", "usage", "Tokens of this call (0 when the provider did not report them)."),
              _opt("usage_reported", "bool", "False when the provider reported no usage."),
              _opt("finish_reason", "str", "Why the model stopped.")),
        _spec(_E.LLM_CALL_FAILED, "A model call raised, or the run stopped while it was open.",
              Field("model", "str", "The model's name."),
              Field("error", "error", "Why.")),
        _spec(_E.ASSISTANT_DELTA, "A streamed piece of the assistant's text; the pieces of a call "
              "joined are its text.",
              Field("text", "str", "The piece.")),
        _spec(_E.ASSISTANT_MESSAGE, "The assistant produced a message with text.",
              Field("content", "str", "Its text.")),
        _spec(_E.TOOL_CALL, "A tool was invoked.",
              Field("tool_call_id", "str", "The model's id of the call (or one made up, unique in the run)."),
              Field("name", "str", "The tool's name."),
              Field("arguments", "json", "An object when the model's JSON is one, else the raw text.")),
        _spec(_E.TOOL_RESULT, "A tool returned or failed (exactly one of `result`, `error`).",
              Field("tool_call_id", "str", "The id of its TOOL_CALL."),
              Field("name", "str", "The tool's name, as in its TOOL_CALL."),
              _opt("result", "str", "What it returned, as text."),
              _opt("error", "str", "Why it failed."),
              one_of=("result", "error")),
        _spec(_E.CHECKPOINT, "The run's state was saved.",
              Field("checkpoint_id", "str", "Tells checkpoints apart.")),
        _spec(_E.CUSTOM, "A framework's or an agent's own event that has no type of its own "
              "(a LangGraph stream-writer item, a custom event), passed on instead of dropped.",
              Field("name", "str", "What it is, as the framework names it."),
              Field("data", "json", "Its content (JSON).")),
    )
}
"""Every event type's payload."""


def payload_problems(event_type: EventType, payload: Mapping[str, Any]) -> list[str]:
    """What is wrong with `payload` for `event_type` (an empty list when nothing is)."""
    spec = PAYLOADS.get(event_type)
    if spec is None:
        return []
    problems: list[str] = []
    for f in spec.fields:
        if f.name not in payload:
            if f.required:
                problems.append(f"needs `{f.name}`")
            continue
        described, ok = _KINDS[f.kind]
        if not ok(payload[f.name]):
            problems.append(f"`{f.name}` must be {described}; got {payload[f.name]!r:.80}")
    if spec.one_of and sum(key in payload for key in spec.one_of) != 1:
        problems.append("needs exactly one of " + ", ".join(f"`{k}`" for k in spec.one_of))
    return problems


# -- ordering ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One ordering rule."""

    id: str
    """A short name, quoted by `GrammarError` messages."""
    text: str
    """The rule."""
    strict_only: bool = False
    """Checked only by `GrammarChecker(strict=True)` (what the translation kit guarantees)."""


RULES: tuple[Rule, ...] = (
    Rule("one-run", "Every event of a stream has the same `run_id`."),
    Rule("seq", "`seq` numbers follow each other without gaps."),
    Rule("payload", "Every payload carries the keys of its type, of the listed kinds."),
    Rule("starts", "An execution starts with RUN_STARTED: the first event, and the first after a "
         "RUN_RETRYING or a terminal event (a resumed run executes again)."),
    Rule("terminal", "An execution ends with one terminal event (RUN_SUCCEEDED, RUN_FAILED, "
         "RUN_CANCELLED, RUN_INTERRUPTED) or with RUN_RETRYING (another attempt follows)."),
    Rule("step-close", "STEP_COMPLETED and STEP_FAILED close a step that is open (started and not "
         "closed), by `name` (and `span_id` when the start had one)."),
    Rule("llm-close", "LLM_CALL_COMPLETED and LLM_CALL_FAILED close a model call that is open "
         "(paired by `span_id` when the start had one)."),
    Rule("tool-answer", "TOOL_RESULT answers a TOOL_CALL of the same execution, with the same "
         "`tool_call_id` and `name`."),
    Rule("succeeded-closed", "When RUN_SUCCEEDED comes, no step and no model call is open."),
    Rule("once", "Each step, model call and tool call is closed at most once: a second "
         "STEP_COMPLETED/FAILED, LLM_CALL_COMPLETED/FAILED or TOOL_RESULT for it is an error.",
         strict_only=True),
    Rule("all-closed", "When an execution ends, every step, model call and tool call it opened is "
         "closed; only tool calls waiting for a human's approval may stay open at RUN_INTERRUPTED.",
         strict_only=True),
)
"""How a run's events follow each other (`docs/events.md` lists them)."""


class _Execution:
    """What is open in one execution (from its RUN_STARTED to its end)."""

    __slots__ = ("steps", "llm", "llm_anonymous", "tools", "answered")

    def __init__(self) -> None:
        self.steps: list[tuple[str, str | None]] = []
        self.llm: dict[str, str] = {}
        self.llm_anonymous = 0
        self.tools: dict[str, str] = {}
        self.answered: dict[str, str] = {}


class GrammarChecker:
    """Checks a run's events one by one against `PAYLOADS` and `RULES`.

    Args:
        strict: Also check the strict rules (each open closed exactly once, everything closed
            when an execution ends), which every runtime built on `agent_runtime_core.integration`
            keeps.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._run_id: str | None = None
        self._last_seq: int | None = None
        self._execution: _Execution | None = None
        self._ended = True  # before the first RUN_STARTED

    def feed(self, event: Event) -> None:
        """Check the next event; raise `GrammarError` if it breaks a rule."""
        t, p = event.type, event.payload
        if self._run_id is None:
            self._run_id = event.run_id
        elif event.run_id != self._run_id:
            self._fail("one-run", event, f"belongs to run {event.run_id!r}, not {self._run_id!r}")
        if self._last_seq is not None and event.seq != self._last_seq + 1:
            self._fail("seq", event, f"follows #{self._last_seq}")
        self._last_seq = event.seq
        problems = payload_problems(t, p)
        if problems:
            self._fail("payload", event, "; ".join(problems))
        if t is EventType.RUN_STARTED:
            self._execution, self._ended = _Execution(), False
            return
        if self._ended or self._execution is None:
            self._fail("starts", event, "comes before the execution's RUN_STARTED")
        ex = self._execution
        assert ex is not None
        if t is EventType.STEP_STARTED:
            ex.steps.append((p["name"], event.span_id))
        elif t in (EventType.STEP_COMPLETED, EventType.STEP_FAILED):
            self._close_step(ex, event)
        elif t is EventType.LLM_CALL_STARTED:
            if event.span_id is not None:
                if event.span_id in ex.llm:
                    self._fail("llm-close", event, f"starts call {event.span_id!r}, which is open already")
                ex.llm[event.span_id] = p["model"]
            else:
                ex.llm_anonymous += 1
        elif t in (EventType.LLM_CALL_COMPLETED, EventType.LLM_CALL_FAILED):
            if event.span_id is not None and event.span_id in ex.llm:
                del ex.llm[event.span_id]
            elif ex.llm_anonymous > 0:
                ex.llm_anonymous -= 1
            elif self.strict or not ex.llm:
                self._fail("llm-close", event, "closes no open model call")
            else:  # a span id the start did not have: close the oldest open call
                del ex.llm[next(iter(ex.llm))]
        elif t is EventType.TOOL_CALL:
            ex.tools[p["tool_call_id"]] = p["name"]
        elif t is EventType.TOOL_RESULT:
            self._answer_tool(ex, event)
        elif t in TERMINAL_EVENT_TYPES or t is EventType.RUN_RETRYING:
            self._end(ex, event)

    def _close_step(self, ex: _Execution, event: Event) -> None:
        name = event.payload["name"]
        for i in range(len(ex.steps) - 1, -1, -1):
            open_name, span = ex.steps[i]
            if open_name == name and (span is None or event.span_id is None or span == event.span_id):
                del ex.steps[i]
                return
        rule = "once" if self.strict else "step-close"
        self._fail(rule, event, f"closes step {name!r}, which is not open")

    def _answer_tool(self, ex: _Execution, event: Event) -> None:
        call_id, name = event.payload["tool_call_id"], event.payload["name"]
        if call_id in ex.tools:
            if ex.tools[call_id] != name:
                self._fail("tool-answer", event, f"names {name!r}; its TOOL_CALL named {ex.tools[call_id]!r}")
            ex.answered[call_id] = ex.tools.pop(call_id)
        elif call_id in ex.answered:
            if self.strict:
                self._fail("once", event, f"answers tool call {call_id!r} a second time")
            if ex.answered[call_id] != name:
                self._fail("tool-answer", event, f"names {name!r}; its TOOL_CALL named {ex.answered[call_id]!r}")
        else:
            self._fail("tool-answer", event, f"answers tool call {call_id!r}, which has no TOOL_CALL")

    def _end(self, ex: _Execution, event: Event) -> None:
        self._ended = True
        steps = [name for name, _ in ex.steps]
        llm = len(ex.llm) + ex.llm_anonymous
        if event.type is EventType.RUN_SUCCEEDED and (steps or llm):
            self._fail("succeeded-closed", event, f"open steps {steps}, {llm} open model call(s)")
        if self.strict:
            tools = [] if event.type is EventType.RUN_INTERRUPTED else sorted(ex.tools)
            if steps or llm or tools:
                self._fail("all-closed", event, f"open steps {steps}, {llm} open model call(s), open tool calls {tools}")

    def finish(self) -> None:
        """Check the end of the stream: it ended an execution."""
        if self._last_seq is None:
            raise GrammarError("[starts] The stream has no events.")
        if not self._ended:
            raise GrammarError("[terminal] The stream ends before its execution's terminal event.")

    def _fail(self, rule: str, event: Event, what: str) -> None:
        raise GrammarError(f"[{rule}] {event.type.name} #{event.seq} {what}.")


def check_events(events: Iterable[Event], *, strict: bool = False) -> None:
    """Check a run's whole stream (one or more executions); raise `GrammarError` naming the rule
    and the event it broke."""
    checker = GrammarChecker(strict=strict)
    for event in events:
        checker.feed(event)
    checker.finish()


# -- documentation ---------------------------------------------------------------------------------


def grammar_markdown() -> str:
    """`docs/events.md`: the grammar as a page, rendered from `PAYLOADS` and `RULES`."""
    lines = [
        "# Events",
        "",
        "<!-- Generated from agent_runtime_core/events/grammar.py by grammar_markdown(); "
        "tests/events/test_grammar.py keeps the two equal. -->",
        "",
        "Every run, whatever framework runs it, produces one stream of events in this grammar. "
        "Each event has `run_id`, `seq` (1, 2, 3, ... per run, no gaps), `type`, `timestamp`, "
        "`payload`, and where it applies `step` (the step it happened in) and `span_id` (tells apart "
        "parallel or nested work: a model call, a tool call, a step).",
        "",
        "```",
        "RUN_STARTED",
        "  ( STEP_STARTED",
        "      LLM_CALL_STARTED  ASSISTANT_DELTA*  (LLM_CALL_COMPLETED | LLM_CALL_FAILED)",
        "      TOOL_CALL  TOOL_RESULT",
        "      ASSISTANT_MESSAGE  CHECKPOINT  CUSTOM  (nested steps)",
        "    STEP_COMPLETED | STEP_FAILED | STEP_RETRYING ... | STEP_SKIPPED",
        "    PROGRESS_UPDATE )*",
        "( RUN_SUCCEEDED | RUN_FAILED | RUN_CANCELLED | RUN_INTERRUPTED | RUN_RETRYING -> RUN_STARTED ... )",
        "```",
        "",
        "Payloads may carry more keys than listed (a framework's extras); consumers ignore keys they "
        "do not know. Listed keys are never renamed. Every payload has been through the secret "
        "redaction before it is published.",
        "",
        "## Ordering rules",
        "",
        "`agent_runtime_core.events.grammar.check_events(events, strict=...)` checks them. Rules marked "
        "*strict* are what every adapter built on `agent_runtime_core.integration` guarantees.",
        "",
    ]
    for rule in RULES:
        lines.append(f"- **{rule.id}**{' (strict)' if rule.strict_only else ''}: {rule.text}")
    lines += ["", "## Payloads", ""]
    for spec in PAYLOADS.values():
        lines += [f"### `{spec.type.value}` ({spec.type.name})", "", spec.doc, ""]
        lines += ["| key | required | value | meaning |", "| --- | --- | --- | --- |"]
        for f in spec.fields:
            described = _KINDS[f.kind][0]
            lines.append(f"| `{f.name}` | {'yes' if f.required else 'no'} | {described} | {f.doc} |")
        if spec.one_of:
            lines += ["", "Exactly one of " + ", ".join(f"`{k}`" for k in spec.one_of) + "."]
        lines.append("")
    return "\n".join(lines)

