"""`OpenAIAgentsRuntime`: an OpenAI Agents SDK `Agent` as an agent-runtime-core `AgentRuntime`.

How one run goes (see the package README for the full mapping):

1. The run's OpenAI chat messages become Responses input items and the agent runs under
   `Runner.run_streamed(...)` with per-run hooks (ours, then the user's `hooks`) and a per-run
   copy of the `RunConfig` (trace export off unless `tracing=True`, a tool-error formatter that
   records failing tools, token usage requested from chat-completions models).
2. The stream and the hooks are reported to the run's `RunRecorder` (`_translate.py`), which
   emits the runtime's events; runs nested in it (agents used as tools, guardrails that run an
   agent) report there too.
3. After each model response (before any of its tools runs) and after each tool output, the
   conversation so far is saved as the run's checkpoint (`_state.py`). A run executed again with
   the same run id (after a crash, or by a retry) continues from it; tool approvals save the SDK's
   own `RunState` JSON, and `AgentRunner.resume(run_id, True/False)` approves or rejects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from agents import (
    Agent,
    Handoff,
    ItemHelpers,
    ModelSettings,
    RunConfig,
    RunHooks,
    Runner,
    RunResultStreaming,
    RunState,
)
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    OutputGuardrailTripwireTriggered,
)
from agents.exceptions import UserError as AgentsUserError
from agents.lifecycle import RunHooksBase
from agents.models.default_models import get_default_model
from agents.models.multi_provider import MultiProvider
from agents.run_config import ToolErrorFormatterArgs

from agent_runtime_core import AgentRuntime, RunContext, RunResult
from agent_runtime_core.errors import InvalidInputError, NonRetriableError, RunCancelledError
from agent_runtime_core.events import tool_arguments
from agent_runtime_core.integration import RunRecorder

from ._convert import items_to_messages, jsonable, messages_to_items
from ._state import CHECKPOINT_FORMAT, Saved, apply_decision, call_id_of, field, normalize_decision
from ._translate import Translation, install_nested_runner

__all__ = ["CHECKPOINT_FORMAT", "OpenAIAgentsNonRetriableError", "OpenAIAgentsRuntime"]

_NON_RETRIABLE_SDK_ERRORS: tuple[type[BaseException], ...] = (
    MaxTurnsExceeded,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    AgentsUserError,
)
_RETRIABLE_HTTP_STATUSES = frozenset({408, 409, 429})


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
        hooks: RunHooks[Any] | None = None,
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
            hooks: Your `agents.RunHooks` for every run: called after ours, in order, with the
                SDK's arguments; an exception they raise is yours (it fails the run). Hooks on
                the agents themselves (`Agent(hooks=...)`) are called by the SDK as always.

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
        if hooks is not None and not isinstance(hooks, RunHooksBase):
            raise TypeError(f"`hooks` must be an agents.RunHooks; got {type(hooks).__name__}.")
        resolved_key = key if key is not None else agent.name
        if not isinstance(resolved_key, str) or not resolved_key:
            raise ValueError(f"`key` must be a non-empty string; got {resolved_key!r}.")
        self.agent = agent
        self.max_turns = max_turns
        self.context = context
        self.tracing = tracing
        self.durable = durable
        self.hooks = hooks
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

    def _run_config(self, ctx: RunContext, translation: Translation) -> RunConfig:
        base = self.run_config
        user_formatter = base.tool_error_formatter

        def tool_error_formatter(args: ToolErrorFormatterArgs[Any]) -> Any:
            translation.record_tool_error(args)
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


class _Run:
    """One execution of a run: continue from its checkpoint, stream the SDK's run, save the end."""

    def __init__(self, runtime: OpenAIAgentsRuntime, ctx: RunContext) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.recorder = RunRecorder(ctx)
        self.saved = Saved(ctx, durable=runtime.durable)
        self.translation = Translation(self.recorder, self.saved, runtime._model_name)

    async def execute(self) -> RunResult:
        ctx, runtime, saved = self.ctx, self.runtime, self.saved
        checkpoint = await saved.load()
        run_config = runtime._run_config(ctx, self.translation)
        user_context = runtime._user_context(ctx)
        if ctx.is_resuming:
            if checkpoint is None or checkpoint.get("status") != "interrupted":
                raise NonRetriableError(
                    f"Run {ctx.run_id!r} has no saved tool approval to resume (its checkpoint is "
                    f"{'missing' if checkpoint is None else checkpoint.get('status')!r})."
                )
            checkpoint = {**checkpoint, "decision": normalize_decision(ctx.resume_value)}
            await saved.save(checkpoint, force=True)  # a crash from here on does not ask again
        status = checkpoint.get("status") if checkpoint is not None else None
        if checkpoint is not None and status == "done":
            return RunResult(
                final_output=dict(checkpoint.get("final_output") or {}),
                final_messages=list(checkpoint.get("final_messages") or []),
            )
        if checkpoint is not None and status == "interrupted":
            if "decision" not in checkpoint:  # executed again before a human answered: ask again
                return RunResult(interrupt=dict(checkpoint.get("interrupt") or {}))
            saved.turns = int(checkpoint.get("turns", 0))
            overrides = {"context_override": user_context} if user_context is not None else {}
            state = await RunState.from_json(runtime.agent, checkpoint["run_state"], **overrides)
            apply_decision(state, checkpoint["decision"], self.translation.tool_errors)
            saved.agent_name = str(checkpoint.get("agent") or runtime.agent.name)
            return await self.stream(state, run_config, user_context, max_turns=runtime.max_turns)

        agent = runtime.agent
        if checkpoint is not None and status == "running":
            saved.restore(checkpoint)
            agent = _agent_graph(runtime.agent).get(str(checkpoint.get("agent")), agent)
            await self.translation.enter_agent(agent.name)
            try:
                await saved.finish_pending_tools(agent, run_config, user_context, self.translation)
            except BaseException as e:
                await self.recorder.failed(e)
                raise
        else:
            if not ctx.input_messages:
                raise InvalidInputError("The run has no input messages for the agent.")
            saved.items = messages_to_items(ctx.input_messages)
        remaining = runtime.max_turns - saved.turns
        if remaining < 1:
            await self.recorder.failed(MaxTurnsExceeded(f"{saved.turns} model calls made"))
            raise OpenAIAgentsNonRetriableError(
                f"MaxTurnsExceeded: the run already made {saved.turns} model call(s) (max_turns={runtime.max_turns})."
            )
        return await self.stream(list(saved.items), run_config, user_context, agent=agent, max_turns=remaining)

    async def stream(
        self,
        input: list[dict[str, Any]] | RunState[Any],
        run_config: RunConfig,
        user_context: Any,
        *,
        agent: Agent[Any] | None = None,
        max_turns: int,
    ) -> RunResult:
        """Run the SDK streamed, translating as it goes; stop it when the run is cancelled."""
        ctx, translation = self.ctx, self.translation
        install_nested_runner()
        token = translation.activate()  # runs nested in this one (in the SDK's task) report here
        try:
            result = Runner.run_streamed(
                agent or self.runtime.agent,
                input,  # type: ignore[arg-type]
                context=user_context,
                max_turns=max_turns,
                hooks=translation.hooks(self.runtime.hooks),
                run_config=run_config,
            )
        finally:
            token.var.reset(token)
        if isinstance(input, RunState):
            self.saved.items = [jsonable(item) for item in result.to_input_list()]
            self.saved.response_start = len(self.saved.items)
        consumer = asyncio.ensure_future(translation.consume(result))
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
            await self.recorder.failed(exc)
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

    async def interrupted(self, result: RunResultStreaming) -> RunResult:
        """Tools wait for a human's approval: save the SDK's state, ask the question."""
        pending = [
            {
                "tool": approval.name or str(field(approval.raw_item, "name") or ""),
                "arguments": tool_arguments(approval.arguments) if approval.arguments is not None else {},
                "tool_call_id": call_id_of(approval.raw_item),
                "agent": getattr(approval.agent, "name", None),
            }
            for approval in result.interruptions
        ]
        first = pending[0]
        interrupt = {
            "type": "tool_approval",
            "question": f"Allow the agent to call `{first['tool']}` with {first['arguments']}? "
            "Resume with True to approve or False to reject.",
            **first,
            "pending": pending,
        }
        await self.translation.leave_agent()
        await self.saved.save_interrupt(jsonable(result.to_state().to_json()), interrupt, result.last_agent.name)
        return await self.recorder.interrupted(interrupt)

    async def finished(self, result: RunResultStreaming) -> RunResult:
        """The run's answer: `{"response": text, "agent": ...}` (+ `output` when structured)."""
        await self.translation.leave_agent()
        output = result.final_output
        if isinstance(output, str):
            response = output
        else:
            response = ItemHelpers.text_message_outputs(result.new_items) or ("" if output is None else str(jsonable(output)))
        final_output: dict[str, Any] = {"response": response, "agent": result.last_agent.name}
        if output is not None and not isinstance(output, str):
            final_output["output"] = jsonable(output)
        final_messages = items_to_messages(self.saved.items)
        await self.saved.save_done(final_output, final_messages)
        return await self.recorder.finished(response, final_messages=final_messages, **{k: v for k, v in final_output.items() if k != "response"})
