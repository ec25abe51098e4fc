"""`OpenAIAgentsRuntime`: an OpenAI Agents SDK `Agent` as an agent-runtime-core `AgentRuntime`.

How one run goes (see the package README for the full mapping):

1. The run's OpenAI chat messages become Responses input items and the agent runs under
   `Runner.run_streamed(...)` with a per-run `RunHooks` and a per-run copy of the `RunConfig`
   (trace export off unless `tracing=True`, a tool-error formatter that records failing tools, token
   usage requested from chat-completions models).
2. The stream (`stream_events()`) and the hooks become the runtime's events. Both come from the
   SDK's run task, but the stream is read by another task; so every hook first waits until the
   stream consumer has handled everything the SDK queued before it, which keeps the events in the
   order in which things happened.
3. After each model response (before any of its tools runs) and after each tool output, the
   conversation so far is saved as the run's checkpoint. A run executed again with the same run
   id (after a crash, or by a retry) continues from it; tool approvals save the SDK's own
   `RunState` JSON, and `AgentRunner.resume(run_id, True/False)` approves or rejects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    Handoff,
    ItemHelpers,
    ModelResponse,
    ModelSettings,
    RunConfig,
    RunHooks,
    Runner,
    RunResultStreaming,
    RunState,
    Tool,
)
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    OutputGuardrailTripwireTriggered,
)
from agents.exceptions import UserError as AgentsUserError
from agents.items import TResponseInputItem
from agents.models.default_models import get_default_model
from agents.models.multi_provider import MultiProvider
from agents.run_config import ToolErrorFormatterArgs
from agents.run_context import RunContextWrapper
from agents.stream_events import StreamEvent
from agents.tool_context import ToolContext
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall

from agent_runtime_core import AgentRuntime, RunContext, RunResult
from agent_runtime_core.errors import (
    ErrorInfo,
    InvalidInputError,
    NonRetriableError,
    RunCancelledError,
)
from agent_runtime_core.events.base import EventType, tool_arguments

from ._convert import items_to_messages, jsonable, messages_to_items, text_of

__all__ = ["CHECKPOINT_FORMAT", "OpenAIAgentsNonRetriableError", "OpenAIAgentsRuntime"]

logger = logging.getLogger("agent_runtime_openai_agents")

CHECKPOINT_FORMAT = "openai-agents/1"
"""The `format` of the checkpoints this adapter writes (checkpoints of other formats are ignored)."""

_NON_RETRIABLE_SDK_ERRORS: tuple[type[BaseException], ...] = (
    MaxTurnsExceeded,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    AgentsUserError,
)
_RETRIABLE_HTTP_STATUSES = frozenset({408, 409, 429})

_DEFAULT_TOOL_ERROR_PREFIX = "An error occurred while running the tool."
"""How the SDK's `default_tool_error_function` starts the text it gives the model."""


def _formatter_reports_tool_exceptions() -> bool:
    """Whether this SDK calls `RunConfig.tool_error_formatter` for tool exceptions (0.2x later
    releases do; older ones only for rejections and unknown tools)."""
    kind = ToolErrorFormatterArgs.__dataclass_fields__["kind"].type
    return "tool_exception" in str(kind)


_FORMATTER_SEES_TOOL_EXCEPTIONS = _formatter_reports_tool_exceptions()


class OpenAIAgentsNonRetriableError(NonRetriableError):
    """An Agents SDK failure that another attempt would only repeat (max turns, a guardrail
    tripwire, a configuration error, a 4xx answer of the model API). The SDK's exception is its
    `__cause__`; the message starts with the SDK exception's class name."""


def _is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, _NON_RETRIABLE_SDK_ERRORS):
        return False
    status = getattr(exc, "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in _RETRIABLE_HTTP_STATUSES)


def _agent_graph(root: Agent[Any]) -> dict[str, Agent[Any]]:
    """Every agent reachable from `root` through handoffs, by name (the first of a name wins)."""
    found: dict[str, Agent[Any]] = {}
    pending: list[Any] = [root]
    seen: set[int] = set()
    while pending:
        agent = pending.pop()
        if id(agent) in seen or not isinstance(agent, Agent):
            continue
        seen.add(id(agent))
        found.setdefault(agent.name, agent)
        for handoff in agent.handoffs:
            if isinstance(handoff, Agent):
                pending.append(handoff)
            elif isinstance(handoff, Handoff):
                ref = getattr(handoff, "_agent_ref", None)  # set by agents.handoff(agent)
                target = ref() if callable(ref) else None
                if target is not None:
                    pending.append(target)
    return found


def _normalize_decision(value: Any) -> dict[str, Any]:
    """The human's answer to a tool approval: True/False, or {"approved": bool, "message": str}."""
    if isinstance(value, bool):
        return {"approved": value}
    if isinstance(value, Mapping) and isinstance(value.get("approved"), bool):
        decision: dict[str, Any] = {"approved": value["approved"]}
        message = value.get("message", value.get("rejection_message"))
        if isinstance(message, str) and message:
            decision["message"] = message
        return decision
    raise InvalidInputError(
        "Resume an OpenAI Agents tool approval with True/False or {'approved': bool, "
        f"'message': str (optional, sent to the model on rejection)}}; got {value!r}."
    )


class OpenAIAgentsRuntime(AgentRuntime):
    """Runs an OpenAI Agents SDK `Agent` (handoffs included) as an `AgentRuntime`.

    Example::

        from agents import Agent, function_tool
        from openai import AsyncOpenAI
        from agent_runtime_core import AgentRunner
        from agent_runtime_openai_agents import OpenAIAgentsRuntime

        agent = Agent(name="weather", instructions="...", tools=[function_tool(get_weather)],
                      model="gpt-4o-mini")
        runtime = OpenAIAgentsRuntime(agent, key="weather", openai_client=AsyncOpenAI())
        result = await AgentRunner().execute(runtime, input_data="What's the weather in Paris?")

    Every run is independent: it gets its own hooks, its own copy of the run configuration and its
    own state, so one runtime serves many concurrent runs. Nothing process-global is changed.
    """

    def __init__(
        self,
        agent: Agent[Any],
        *,
        key: str | None = None,
        run_config: RunConfig | None = None,
        max_turns: int = 10,
        openai_client: Any | None = None,
        use_responses: bool | None = None,
        context: Any | Callable[[RunContext], Any] | None = None,
        tracing: bool = False,
        include_usage: bool = True,
        durable: bool = True,
    ) -> None:
        """Wrap `agent`.

        Args:
            agent: The starting `agents.Agent`; agents reachable through its handoffs run too.
            key: The runtime's key (registry, events); defaults to the agent's name.
            run_config: The SDK `RunConfig` for every run (copied per run, never changed).
            max_turns: The SDK's turn limit for one run (model calls, counted across resumes).
            openai_client: An `openai.AsyncOpenAI` client for agents whose model is a name (or
                unset): used through a per-runtime `MultiProvider`, so no environment variable
                and no process-global client is needed. Without it the SDK's defaults apply
                (`OPENAI_API_KEY`, `set_default_openai_client`, ...).
            use_responses: With `openai_client`: True for the Responses API (the SDK's default),
                False for Chat Completions.
            context: The SDK's run context object handed to tools and hooks, or a callable
                `(RunContext) -> context` building one per run. It must be JSON-serializable
                (or a pydantic model / dataclass) for tool approvals to be saved.
            tracing: False (default): the SDK's tracing, whose default processor exports to
                OpenAI, is off for these runs (`RunConfig.tracing_disabled`). True: the given
                `run_config` decides, the SDK's processors (yours included) get the traces, and
                each trace carries `group_id` and `trace_metadata["run_id"]` = the run id.
            include_usage: Ask chat-completions models for token usage when streaming
                (`ModelSettings.include_usage`, unless the run config sets it).
            durable: Save the conversation as the run's checkpoint after each model response
                and tool output, and continue from it when the run is executed again. Tool
                approvals are saved whatever this says (they cannot work otherwise).

        Raises:
            TypeError: `agent` is not an `agents.Agent`.
            ValueError: a bad `max_turns` or `key`.
        """
        if not isinstance(agent, Agent):
            raise TypeError(
                "OpenAIAgentsRuntime wraps an OpenAI Agents SDK `agents.Agent`; got "
                f"{type(agent).__module__}.{type(agent).__qualname__}."
            )
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"`max_turns` must be an integer >= 1; got {max_turns!r}.")
        if run_config is not None and not isinstance(run_config, RunConfig):
            raise TypeError(f"`run_config` must be an agents.RunConfig; got {type(run_config).__name__}.")
        resolved_key = key if key is not None else agent.name
        if not isinstance(resolved_key, str) or not resolved_key:
            raise ValueError(f"`key` must be a non-empty string; got {resolved_key!r}.")
        self.agent = agent
        self.max_turns = max_turns
        self.context = context
        self.tracing = tracing
        self.durable = durable
        self._key = resolved_key
        base = run_config if run_config is not None else RunConfig()
        if openai_client is not None:
            base = dataclasses.replace(
                base,
                model_provider=MultiProvider(openai_client=openai_client, openai_use_responses=use_responses),
            )
        if include_usage:
            settings = base.model_settings or ModelSettings()
            if settings.include_usage is None:
                base = dataclasses.replace(base, model_settings=dataclasses.replace(settings, include_usage=True))
        self.run_config = base

    @property
    def key(self) -> str:
        """The runtime's key."""
        return self._key

    async def run(self, ctx: RunContext) -> RunResult:
        """Run the agent for one run (or continue it from its checkpoint)."""
        return await _Run(self, ctx).execute()

    # -- per-run configuration ------------------------------------------------------------------

    def _user_context(self, ctx: RunContext) -> Any:
        return self.context(ctx) if callable(self.context) else self.context

    def _run_config(self, ctx: RunContext, run: _Run) -> RunConfig:
        base = self.run_config
        user_formatter = base.tool_error_formatter

        def tool_error_formatter(args: ToolErrorFormatterArgs[Any]) -> Any:
            run.record_tool_error(args)
            return user_formatter(args) if user_formatter is not None else None

        changes: dict[str, Any] = {"tool_error_formatter": tool_error_formatter}
        if not self.tracing:
            changes["tracing_disabled"] = True
        else:
            changes["group_id"] = base.group_id or ctx.run_id
            changes["trace_metadata"] = {**(base.trace_metadata or {}), "run_id": ctx.run_id}
        return dataclasses.replace(base, **changes)

    def _model_name(self, agent: Agent[Any]) -> str:
        model = self.run_config.model if self.run_config.model is not None else agent.model
        if model is None:
            return get_default_model()
        if isinstance(model, str):
            return model
        name = getattr(model, "model", None)
        return name if isinstance(name, str) and name else type(model).__name__


class _Hooks(RunHooks[Any]):
    """Per-run hooks: each instance serves one run and forwards to it (never a global)."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: Agent[Any],
        system_prompt: str | None,
        input_items: list[TResponseInputItem],
    ) -> None:
        await self._run.on_llm_start(agent)

    async def on_llm_end(self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse) -> None:
        await self._run.on_llm_end(agent, response)


class _Run:
    """The state of one run of an `OpenAIAgentsRuntime`: what was emitted, what is saved."""

    def __init__(self, runtime: OpenAIAgentsRuntime, ctx: RunContext) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.agents = _agent_graph(runtime.agent)
        self.items: list[dict[str, Any]] = []
        """The conversation so far, as Responses input items (what a checkpoint saves)."""
        self.turns = 0
        """Model calls made by the run so far (across executions)."""
        self.result: RunResultStreaming | None = None
        self.agent_name: str | None = None
        self.open_step: str | None = None
        self.llm_model: str | None = None
        self.llm_span: str | None = None
        self.awaiting_llm_end = False
        self.held: list[StreamEvent] = []
        self.called: dict[str, str] = {}
        self.tool_errors: dict[str, str] = {}
        self.response_start = 0
        self.consumer_done = asyncio.Event()
        self.progress = asyncio.Event()
        self.handling = False

    # -- entry ---------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        ctx, runtime = self.ctx, self.runtime
        checkpoint = await ctx.get_checkpoint() if ctx.state_store is not None else None
        if checkpoint is not None and checkpoint.get("format") != CHECKPOINT_FORMAT:
            logger.warning("Run %s has a checkpoint of another format; starting afresh.", ctx.run_id)
            checkpoint = None
        run_config = runtime._run_config(ctx, self)
        user_context = runtime._user_context(ctx)

        if ctx.is_resuming:
            if checkpoint is None or checkpoint.get("status") != "interrupted":
                raise NonRetriableError(
                    f"Run {ctx.run_id!r} has no saved tool approval to resume (its checkpoint is "
                    f"{'missing' if checkpoint is None else checkpoint.get('status')!r})."
                )
            checkpoint = {**checkpoint, "decision": _normalize_decision(ctx.resume_value)}
            await self.save(checkpoint, force=True)  # a crash from here on does not ask again
        if checkpoint is not None and checkpoint.get("status") == "done":
            return RunResult(
                final_output=dict(checkpoint.get("final_output") or {}),
                final_messages=list(checkpoint.get("final_messages") or []),
            )
        if checkpoint is not None and checkpoint.get("status") == "interrupted":
            if "decision" not in checkpoint:  # executed again before a human answered: ask again
                return RunResult(interrupt=dict(checkpoint.get("interrupt") or {}))
            self.turns = int(checkpoint.get("turns", 0))
            state = await RunState.from_json(
                runtime.agent,
                checkpoint["run_state"],
                **({"context_override": user_context} if user_context is not None else {}),
            )
            self._apply_decision(state, checkpoint["decision"])
            self.agent_name = str(checkpoint.get("agent") or runtime.agent.name)
            return await self.stream(state, run_config, user_context, max_turns=runtime.max_turns)

        agent = runtime.agent
        if checkpoint is not None and checkpoint.get("status") == "running":
            self.items = [dict(item) for item in checkpoint.get("items") or []]
            self.turns = int(checkpoint.get("turns", 0))
            self.response_start = int(checkpoint.get("response_start", len(self.items)))
            agent = self.agents.get(str(checkpoint.get("agent")), agent)
            await self.enter_agent_step(agent.name)
            await self.finish_pending_tools(agent, run_config, user_context)
        else:
            if not ctx.input_messages:
                raise InvalidInputError("The run has no input messages for the agent.")
            self.items = messages_to_items(ctx.input_messages)
        remaining = runtime.max_turns - self.turns
        if remaining < 1:
            raise OpenAIAgentsNonRetriableError(
                f"MaxTurnsExceeded: the run already made {self.turns} model call(s) (max_turns={runtime.max_turns})."
            )
        return await self.stream(list(self.items), run_config, user_context, agent=agent, max_turns=remaining)

    # -- running -------------------------------------------------------------------------------

    async def stream(
        self,
        input: list[dict[str, Any]] | RunState[Any],
        run_config: RunConfig,
        user_context: Any,
        *,
        agent: Agent[Any] | None = None,
        max_turns: int,
    ) -> RunResult:
        ctx = self.ctx
        result = self.result = Runner.run_streamed(
            agent or self.runtime.agent,
            input,  # type: ignore[arg-type]
            context=user_context,
            max_turns=max_turns,
            hooks=_Hooks(self),
            run_config=run_config,
        )
        if isinstance(input, RunState):
            self.items = [jsonable(item) for item in result.to_input_list()]
            self.response_start = len(self.items)
        consumer = asyncio.ensure_future(self.consume(result))
        cancelled = asyncio.ensure_future(ctx.wait_cancelled())
        try:
            await asyncio.wait({consumer, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not consumer.done():  # the run was cancelled: stop the SDK before its next call
                result.cancel("immediate")
                with contextlib.suppress(Exception):  # its outcome no longer matters
                    await asyncio.wait_for(asyncio.shield(consumer), timeout=5.0)
                raise RunCancelledError("The run was cancelled.", run_id=ctx.run_id)
            consumer.result()  # the SDK's exception, if the run failed
        except BaseException as exc:
            await self.close_open_work(exc)
            if isinstance(exc, Exception) and not isinstance(exc, RunCancelledError) and not _is_retriable(exc):
                raise OpenAIAgentsNonRetriableError(f"{type(exc).__name__}: {exc}") from exc
            raise
        finally:
            cancelled.cancel()
            if not result.is_complete or not consumer.done():
                result.cancel("immediate")
            if not consumer.done():
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        if result.interruptions:
            return await self.interrupted(result)
        return await self.finished(result)

    async def consume(self, result: RunResultStreaming) -> None:
        """Translate the SDK's stream into events, in the order the SDK queued them."""
        try:
            async for event in result.stream_events():
                self.handling = True
                try:
                    await self.handle(event)
                finally:
                    self.handling = False
                    self.progress.set()
        finally:
            self.consumer_done.set()
            self.progress.set()

    async def drain(self) -> None:
        """Wait until the stream consumer has handled everything queued so far.

        Hooks call this before emitting: the SDK calls them from its run task right after queueing
        stream events, and the consumer task may not have emitted those yet. The consumer is idle
        when it is not handling an event and the SDK's queue (`RunResultStreaming._event_queue`, an
        `asyncio.Queue`) is empty: an event stays in the queue until the consumer takes it, and the
        consumer starts handling it without yielding to the loop. Without that queue (a future
        SDK), only the event being handled is waited for and order is best effort.
        """
        queue = getattr(self.result, "_event_queue", None)
        empty = getattr(queue, "empty", None)
        while not self.consumer_done.is_set() and (self.handling or (callable(empty) and not empty())):
            self.progress.clear()
            await self.progress.wait()

    async def handle(self, event: StreamEvent) -> None:
        if event.type == "raw_response_event":
            kind = getattr(event.data, "type", None)
            if kind == "response.output_text.delta":
                delta = getattr(event.data, "delta", "")
                if delta:
                    await self.emit(EventType.ASSISTANT_DELTA, {"text": delta}, span_id=self.llm_span)
            elif kind == "response.completed":
                self.awaiting_llm_end = True  # model items follow; on_llm_end comes after them
        elif event.type == "agent_updated_stream_event":
            await self.enter_agent_step(event.new_agent.name)
        elif event.type == "run_item_stream_event":
            to_input = getattr(event.item, "to_input_item", None)
            if callable(to_input) and event.name not in ("mcp_approval_requested",):
                self.items.append(jsonable(to_input()))
            if self.awaiting_llm_end:
                self.held.append(event)
                return
            await self.emit_item(event)
            if event.name == "handoff_occured":
                # The next turn belongs to the target agent: a checkpoint from here resumes it.
                target = getattr(getattr(event.item, "target_agent", None), "name", None)
                self.agent_name = target or self.agent_name
            if event.name in ("tool_output", "handoff_occured"):
                await self.save_progress()

    async def emit_item(self, event: Any) -> None:
        name, item = event.name, event.item
        raw = getattr(item, "raw_item", None)
        if name == "tool_called":
            await self.emit_tool_call(raw)
        elif name == "tool_output":
            call_id = _get(raw, "call_id") or _get(raw, "id") or ""
            await self.emit_tool_result(str(call_id), getattr(item, "output", _get(raw, "output")))
        elif name == "message_output_created":
            text = ItemHelpers.text_message_output(item)
            if text:
                await self.emit(EventType.ASSISTANT_MESSAGE, {"content": text})
        elif name == "handoff_occured":
            source = getattr(getattr(item, "source_agent", None), "name", None) or self.agent_name or ""
            target = getattr(getattr(item, "target_agent", None), "name", None) or ""
            step = f"handoff:{source}->{target}"
            payload = {"name": step, "kind": "handoff", "from_agent": source, "to_agent": target,
                       "tool_call_id": str(_get(raw, "call_id") or "")}
            await self.emit(EventType.STEP_STARTED, payload, step=step)
            await self.emit(EventType.STEP_COMPLETED, {"name": step, "kind": "handoff"}, step=step)

    async def emit_tool_call(self, raw: Any) -> None:
        call_id = str(_get(raw, "call_id") or _get(raw, "id") or "")
        name = str(_get(raw, "name") or _get(raw, "type") or "tool")
        arguments = _get(raw, "arguments")
        self.called[call_id] = name
        await self.emit(
            EventType.TOOL_CALL,
            {"tool_call_id": call_id, "name": name, "arguments": tool_arguments(arguments) if arguments is not None else {}},
            span_id=call_id,
        )

    async def emit_tool_result(self, call_id: str, output: Any) -> None:
        if call_id not in self.called:  # e.g. an approved call: its TOOL_CALL was in the run before
            call = next((i for i in self.items if i.get("type") == "function_call" and i.get("call_id") == call_id), None)
            await self.emit_tool_call(call or {"call_id": call_id, "name": "tool"})
        payload: dict[str, Any] = {"tool_call_id": call_id, "name": self.called[call_id]}
        error = self.tool_errors.pop(call_id, None)
        if (
            error is None
            and not _FORMATTER_SEES_TOOL_EXCEPTIONS
            and isinstance(output, str)
            and output.startswith(_DEFAULT_TOOL_ERROR_PREFIX)
        ):
            error = output  # an older SDK: its default failure text is the only sign
        if error is not None:
            payload["error"] = error
        else:
            payload["result"] = output if isinstance(output, str) else text_of(jsonable(output)) if isinstance(output, list) else str(output)
        await self.emit(EventType.TOOL_RESULT, payload, span_id=call_id)

    def record_tool_error(self, args: ToolErrorFormatterArgs[Any]) -> None:
        """Called by the per-run `tool_error_formatter`: remember why a tool call failed."""
        if args.kind == "tool_exception" and args.error is not None:
            message = f"{type(args.error).__name__}: {args.error}"
        elif args.kind == "approval_rejected":
            message = self.tool_errors.get(args.call_id) or f"rejected by a human: {args.default_message}"
        else:
            message = args.default_message
        self.tool_errors[args.call_id] = message

    # -- hooks ---------------------------------------------------------------------------------

    async def on_llm_start(self, agent: Agent[Any]) -> None:
        await self.drain()
        self.turns += 1
        self.held.clear()
        self.awaiting_llm_end = False
        self.response_start = len(self.items)
        self.llm_model = self.runtime._model_name(agent)
        self.llm_span = f"llm-{uuid.uuid4().hex[:12]}"
        await self.emit(EventType.LLM_CALL_STARTED, {"model": self.llm_model}, span_id=self.llm_span)

    async def on_llm_end(self, agent: Agent[Any], response: ModelResponse) -> None:
        await self.drain()
        usage = response.usage
        await self.emit(
            EventType.LLM_CALL_COMPLETED,
            {
                "model": self.llm_model or self.runtime._model_name(agent),
                "usage": {"input_tokens": int(usage.input_tokens), "output_tokens": int(usage.output_tokens)},
                "response_id": response.response_id,
            },
            span_id=self.llm_span,
        )
        self.llm_model = self.llm_span = None
        held, self.held = self.held, []
        self.awaiting_llm_end = False
        for event in held:
            await self.emit_item(event)
        # Saved before any tool of this response runs: a crash in a tool does not lose the reply.
        # (A reply of text only ends the run, which saves its result instead.)
        if any(getattr(item, "type", None) not in ("message", "reasoning") for item in response.output):
            await self.save_progress()

    # -- steps ---------------------------------------------------------------------------------

    async def enter_agent_step(self, name: str) -> None:
        self.agent_name = name
        if self.open_step == name:
            return
        if self.open_step is not None:
            await self.emit(EventType.STEP_COMPLETED, {"name": self.open_step, "kind": "agent"}, step=self.open_step)
        self.open_step = name
        await self.emit(EventType.STEP_STARTED, {"name": name, "kind": "agent"}, step=name)

    async def close_step(self) -> None:
        if self.open_step is not None:
            name, self.open_step = self.open_step, None
            await self.emit(EventType.STEP_COMPLETED, {"name": name, "kind": "agent"}, step=name)

    async def close_open_work(self, exc: BaseException) -> None:
        """After a failure or a cancel: fail the open model call and agent step (balanced events)."""
        cancelled = isinstance(exc, RunCancelledError | asyncio.CancelledError)
        if cancelled:
            error = ErrorInfo(type="RunCancelledError", message="The run was cancelled.", retriable=False)
        else:
            error = ErrorInfo.from_exception(exc, retriable=_is_retriable(exc))
        error_dict = {k: v for k, v in error.to_dict().items() if k != "traceback"}
        with contextlib.suppress(Exception):
            if self.llm_model is not None:
                model, self.llm_model = self.llm_model, None
                await self.emit(EventType.LLM_CALL_FAILED, {"model": model, "error": error_dict}, span_id=self.llm_span)
            if self.open_step is not None:
                name, self.open_step = self.open_step, None
                await self.emit(EventType.STEP_FAILED, {"name": name, "kind": "agent", "error": error_dict}, step=name)

    # -- endings -------------------------------------------------------------------------------

    async def interrupted(self, result: RunResultStreaming) -> RunResult:
        pending = []
        for approval in result.interruptions:
            raw = approval.raw_item
            pending.append(
                {
                    "tool": approval.name or str(_get(raw, "name") or ""),
                    "arguments": tool_arguments(approval.arguments) if approval.arguments is not None else {},
                    "tool_call_id": str(_get(raw, "call_id") or _get(raw, "id") or ""),
                    "agent": getattr(approval.agent, "name", None),
                }
            )
        first = pending[0]
        interrupt = {
            "type": "tool_approval",
            "question": f"Allow the agent to call `{first['tool']}` with {first['arguments']}? "
            "Resume with True to approve or False to reject.",
            **first,
            "pending": pending,
        }
        await self.close_step()
        state = jsonable(result.to_state().to_json())
        await self.save(
            {
                "format": CHECKPOINT_FORMAT,
                "status": "interrupted",
                "run_state": state,
                "interrupt": interrupt,
                "agent": result.last_agent.name,
                "turns": self.turns,
            },
            force=True,
        )
        return RunResult(interrupt=interrupt)

    async def finished(self, result: RunResultStreaming) -> RunResult:
        await self.close_step()
        output = result.final_output
        if isinstance(output, str):
            response = output
        else:
            response = ItemHelpers.text_message_outputs(result.new_items) or ("" if output is None else str(jsonable(output)))
        final_output: dict[str, Any] = {"response": response, "agent": result.last_agent.name}
        if output is not None and not isinstance(output, str):
            final_output["output"] = jsonable(output)
        final_messages = items_to_messages(self.items)
        await self.save(
            {
                "format": CHECKPOINT_FORMAT,
                "status": "done",
                "final_output": final_output,
                "final_messages": final_messages,
                "turns": self.turns,
            }
        )
        return RunResult(final_output=final_output, final_messages=final_messages)

    # -- checkpoints ---------------------------------------------------------------------------

    async def save_progress(self) -> None:
        await self.save(
            {
                "format": CHECKPOINT_FORMAT,
                "status": "running",
                "items": self.items,
                "agent": self.agent_name or self.runtime.agent.name,
                "turns": self.turns,
                "response_start": self.response_start,
            }
        )

    async def save(self, state: dict[str, Any], *, force: bool = False) -> None:
        if self.ctx.state_store is None:
            if force:
                raise NonRetriableError(
                    "A tool approval needs a state store to save the run; give the AgentRunner one."
                )
            return
        if self.runtime.durable or force:
            await self.ctx.checkpoint(state)

    def _apply_decision(self, state: RunState[Any], decision: Mapping[str, Any]) -> None:
        for approval in state.get_interruptions():
            if decision.get("approved"):
                state.approve(approval)
            else:
                message = decision.get("message")
                state.reject(approval, rejection_message=message)
                call_id = str(_get(approval.raw_item, "call_id") or _get(approval.raw_item, "id") or "")
                self.tool_errors[call_id] = f"rejected by a human: {message}" if message else "rejected by a human"

    # -- crash recovery ------------------------------------------------------------------------

    async def finish_pending_tools(self, agent: Agent[Any], run_config: RunConfig, user_context: Any) -> None:
        """The last saved model response asked for tools whose outputs were not saved (a crash
        while they ran): run them now, without asking the model again.

        Only plain function tools of the current agent, without approval or tool guardrails, under
        the default `tool_use_behavior`, are run this way (through the same `on_invoke_tool` the
        SDK calls, so its failure handling applies). Otherwise that model response is dropped and
        the model is asked again (its call is then made twice).
        """
        done = {i.get("call_id") for i in self.items if i.get("type") == "function_call_output"}
        pending = [
            i for i in self.items[self.response_start:]
            if i.get("type") == "function_call" and i.get("call_id") not in done
        ]
        if not pending:
            return
        wrapper = RunContextWrapper(context=user_context)
        tools: dict[str, Tool] = {t.name: t for t in await agent.get_all_tools(wrapper)}
        runnable = agent.tool_use_behavior == "run_llm_again" and all(
            _plain_function_tool(tools.get(str(call.get("name")))) for call in pending
        )
        if not runnable:
            logger.info("Run %s: pending tool calls cannot be replayed; asking the model again.", self.ctx.run_id)
            del self.items[self.response_start:]
            self.turns = max(0, self.turns - 1)
            return
        for call in pending:
            tool = tools[str(call["name"])]
            assert isinstance(tool, FunctionTool)
            tool_call = ResponseFunctionToolCall.model_validate(
                {k: call[k] for k in ("call_id", "name", "arguments", "type", "id", "status") if k in call}
            )
            await self.emit_tool_call(call)
            tool_context = ToolContext(
                context=user_context,
                usage=Usage(),
                tool_name=tool_call.name,
                tool_call_id=tool_call.call_id,
                tool_arguments=tool_call.arguments,
                tool_call=tool_call,
                agent=agent,
                run_config=run_config,
            )
            output = await tool.on_invoke_tool(tool_context, tool_call.arguments)
            self.items.append(jsonable(ItemHelpers.tool_call_output_item(tool_call, output)))
            await self.emit_tool_result(tool_call.call_id, output)
            await self.save_progress()

    # -- emitting ------------------------------------------------------------------------------

    async def emit(
        self, event_type: EventType, payload: dict[str, Any], *, step: str | None = None, span_id: str | None = None
    ) -> None:
        await self.ctx.emit(event_type, payload, step=step if step is not None else self.agent_name, span_id=span_id)


def _plain_function_tool(tool: Tool | None) -> bool:
    return (
        isinstance(tool, FunctionTool)
        and tool.needs_approval is False
        and not tool.tool_input_guardrails
        and not tool.tool_output_guardrails
    )


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)

