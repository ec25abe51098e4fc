"""`PydanticAIRuntime`: a Pydantic AI `Agent` as an agent-runtime-core `AgentRuntime`.

How one run goes (see the package README for the full mapping):

1. The run's OpenAI chat messages become the prompt (the last user message) and Pydantic AI's
   message history (the rest); the agent runs under `Agent.iter(...)` with the runtime's `deps`,
   a per-run `CancellationToken`, and `DeferredToolRequests` added to its output types so tools
   with `requires_approval=True` end the run instead of failing it.
2. Each node's stream is reported to the run's `RunRecorder` (`_translate.py`).
3. After each model response that calls tools (before they run) and after their returns (before
   the next model call) the message history is the run's checkpoint (`_state.py`). A run
   executed again with the same run id (after a crash, or by a retry) continues from it; deferred
   tool calls save the history and the question, and `AgentRunner.resume(run_id, answer)` hands
   Pydantic AI the approvals as `DeferredToolResults`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from pydantic_ai import Agent, CancellationToken, DeferredToolRequests
from pydantic_ai.exceptions import AgentRunError, ModelHTTPError, RunCancelled, UserError
from pydantic_ai.messages import ModelMessage

from agent_runtime_core import AgentRuntime, RunContext, RunResult
from agent_runtime_core.errors import NonRetriableError, RunCancelledError
from agent_runtime_core.events import tool_arguments
from agent_runtime_core.integration import RunRecorder

from ._convert import history_to_messages, jsonable, load_history, output_text, split_input
from ._state import CHECKPOINT_FORMAT, Saved, deferred_results, normalize_decision
from ._translate import Translation

__all__ = ["CHECKPOINT_FORMAT", "PydanticAINonRetriableError", "PydanticAIRuntime"]

_RETRIABLE_HTTP_STATUSES = frozenset({408, 409, 429})

OutputMapper = Callable[[Any], "Mapping[str, Any] | str"]


class PydanticAINonRetriableError(NonRetriableError):
    """A Pydantic AI failure that another attempt would only repeat (a usage limit, a
    configuration error, a 4xx answer of the model API, retries exhausted). The framework's
    exception is its `__cause__`; the message starts with its class name."""


def _is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, ModelHTTPError):
        return not (400 <= exc.status_code < 500 and exc.status_code not in _RETRIABLE_HTTP_STATUSES)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return not (400 <= status < 500 and status not in _RETRIABLE_HTTP_STATUSES)
    return not isinstance(exc, AgentRunError | UserError)


def _with_deferred(spec: Any) -> Any:
    """The agent's output types plus `DeferredToolRequests` (unless it has it already)."""
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    return spec if DeferredToolRequests in items else [*items, DeferredToolRequests]


class PydanticAIRuntime(AgentRuntime):
    """Runs a Pydantic AI `Agent` as an `AgentRuntime`.

    Example::

        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
        from agent_runtime_core import AgentRunner
        from agent_runtime_pydantic_ai import PydanticAIRuntime

        model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(api_key=...))
        agent = Agent(model, tools=[get_weather], instructions="...")
        result = await AgentRunner().execute(PydanticAIRuntime(agent, key="weather"), input_data="...")

    Every run is independent (its own recorder, token and history), so one runtime serves many
    concurrent runs. Nothing process-global is changed; Pydantic AI's instrumentation (Logfire /
    OpenTelemetry) stays off unless you turn it on yourself (`Agent(instrument=...)`).
    """

    def __init__(
        self,
        agent: Agent[Any, Any],
        *,
        key: str | None = None,
        deps: Any | Callable[[RunContext], Any] = None,
        output_mapper: OutputMapper | None = None,
        durable: bool = True,
    ) -> None:
        """Wrap `agent`.

        Args:
            agent: The `pydantic_ai.Agent` (its model set, e.g. `OpenAIChatModel`).
            key: The runtime's key (registry, events); defaults to the agent's name.
            deps: The agent's dependencies for every run, or a callable `(RunContext) -> deps`
                building them per run (call it with `deps=lambda ctx: ...`).
            output_mapper: `output -> dict | str` building `final_output` from the agent's
                output (a dict replaces it; a string becomes `{"response": ...}`).
            durable: Save the message history as the run's checkpoint after each model response
                and tool return, and continue from it when the run is executed again. Deferred
                tool calls are saved whatever this says (resume needs them).

        Raises:
            TypeError: `agent` is not a `pydantic_ai.Agent`, or `output_mapper` is not callable.
            ValueError: no `key` and the agent has no name.
        """
        if not isinstance(agent, Agent):
            raise TypeError(
                "PydanticAIRuntime wraps a `pydantic_ai.Agent`; got "
                f"{type(agent).__module__}.{type(agent).__qualname__}."
            )
        if output_mapper is not None and not callable(output_mapper):
            raise TypeError(f"`output_mapper` must be callable; got {type(output_mapper).__name__}.")
        resolved_key = key if key is not None else agent.name
        if not isinstance(resolved_key, str) or not resolved_key:
            raise ValueError(f"`key` must be a non-empty string (the agent has no name); got {resolved_key!r}.")
        self.agent = agent
        self.deps = deps
        self.output_mapper = output_mapper
        self.durable = durable
        self._key = resolved_key

    @property
    def key(self) -> str:
        """The runtime's key."""
        return self._key

    async def run(self, ctx: RunContext) -> RunResult:
        """Run the agent for one run (or continue it from its checkpoint)."""
        return await _Run(self, ctx).execute()

    def _deps(self, ctx: RunContext) -> Any:
        return self.deps(ctx) if callable(self.deps) else self.deps

    def _model_name(self) -> str:
        model = self.agent.model
        name = getattr(model, "model_name", None) if model is not None else None
        return name if isinstance(name, str) and name else str(model or "unknown")

    def _final_output(self, output: Any) -> dict[str, Any]:
        if self.output_mapper is not None:
            mapped = self.output_mapper(output)
            if isinstance(mapped, str):
                return {"response": mapped}
            if isinstance(mapped, Mapping):
                return {"response": "", **jsonable(dict(mapped))}
            raise PydanticAINonRetriableError(f"output_mapper must return a dict or a string; got {type(mapped).__name__}.")
        final: dict[str, Any] = {"response": output_text(output)}
        if not isinstance(output, str):
            final["output"] = jsonable(output)
        return final


class _Run:
    """One execution of a run: continue from its checkpoint, drive the agent, save the end."""

    def __init__(self, runtime: PydanticAIRuntime, ctx: RunContext) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.recorder = RunRecorder(ctx)
        self.saved = Saved(ctx, durable=runtime.durable)

    async def execute(self) -> RunResult:
        ctx, saved = self.ctx, self.saved
        checkpoint = await saved.load()
        status = checkpoint.get("status") if checkpoint is not None else None
        if ctx.is_resuming:
            if checkpoint is None or status != "interrupted":
                raise NonRetriableError(
                    f"Run {ctx.run_id!r} has no deferred tool call to resume (its checkpoint is "
                    f"{'missing' if checkpoint is None else repr(status)})."
                )
            ids = [str(p["tool_call_id"]) for p in checkpoint["interrupt"]["pending"]]
            checkpoint = {**checkpoint, "decision": normalize_decision(ctx.resume_value, ids)}
            await saved.save(checkpoint, force=True)  # a crash from here on does not ask again
        if checkpoint is not None and status == "done":
            return RunResult(
                final_output=dict(checkpoint.get("final_output") or {}),
                final_messages=list(checkpoint.get("final_messages") or []),
            )
        if checkpoint is not None and status == "interrupted":
            if "decision" not in checkpoint:  # executed again before a human answered: ask again
                return RunResult(interrupt=dict(checkpoint.get("interrupt") or {}))
            decision = checkpoint["decision"]
            return await self.drive(None, load_history(checkpoint["history"]), decision=decision)
        if checkpoint is not None and status == "running":
            return await self.drive(None, load_history(checkpoint["history"]))
        prompt, history = split_input(ctx.input_messages)
        return await self.drive(prompt, history)

    async def drive(
        self, prompt: str | None, history: list[ModelMessage], *, decision: Mapping[str, Any] | None = None
    ) -> RunResult:
        """Run the agent from `prompt` and `history` (with the human's `decision` on deferred
        calls), racing it against the run's cancellation."""
        ctx, runtime, recorder = self.ctx, self.runtime, self.recorder
        agent = runtime.agent
        translation = Translation(recorder, self.saved, runtime._model_name(), awaiting=set(decision or ()))
        token = CancellationToken()
        outcome: dict[str, Any] = {}

        async def run_agent() -> None:
            async with agent.iter(
                prompt,
                message_history=history or None,
                deferred_tool_results=deferred_results(decision) if decision else None,
                output_type=_with_deferred(agent.output_type),
                deps=runtime._deps(ctx),
                cancellation_token=token,
            ) as run:
                await translation.consume(run)
                assert run.result is not None
                outcome["output"] = run.result.output
                outcome["messages"] = run.all_messages()

        await recorder.step_started(agent.name or runtime.key, "agent")
        consumer = asyncio.ensure_future(run_agent())
        cancelled = asyncio.ensure_future(ctx.wait_cancelled())
        try:
            await asyncio.wait({consumer, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not consumer.done():  # cancelled: stop the run before its next model call
                token.cancel()
                with contextlib.suppress(BaseException):  # its outcome no longer matters
                    await asyncio.wait_for(asyncio.shield(consumer), timeout=5.0)
                raise RunCancelledError("The run was cancelled.", run_id=ctx.run_id)
            consumer.result()  # the framework's exception, if the run failed
        except BaseException as exc:
            await recorder.failed(exc)
            if isinstance(exc, RunCancelled):
                raise RunCancelledError("The run was cancelled.", run_id=ctx.run_id) from exc
            if isinstance(exc, Exception) and not isinstance(exc, RunCancelledError) and not _is_retriable(exc):
                raise PydanticAINonRetriableError(f"{type(exc).__name__}: {exc}") from exc
            raise
        finally:
            cancelled.cancel()
            if not consumer.done():
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        output, messages = outcome["output"], outcome["messages"]
        try:
            if isinstance(output, DeferredToolRequests):
                return await self.interrupted(output, messages)
            final_output = runtime._final_output(output)
            final_messages = history_to_messages(messages)
            await self.saved.save_done(final_output, final_messages)
        except BaseException as exc:  # an output_mapper's error, an unsupported deferral
            await recorder.failed(exc)
            raise
        response = final_output.pop("response", "")
        return await recorder.finished(response, final_messages=final_messages, **final_output)

    async def interrupted(self, requests: DeferredToolRequests, messages: list[ModelMessage]) -> RunResult:
        """Tools wait for a human's approval: save the history, ask the question."""
        if requests.calls:
            names = ", ".join(c.tool_name for c in requests.calls)
            raise PydanticAINonRetriableError(
                f"The agent deferred tool calls for external execution ({names}); this runtime resumes "
                "approvals (requires_approval=True) only. Run those tools inside the agent."
            )
        pending = [
            {"tool": c.tool_name, "arguments": tool_arguments(c.args) if c.args is not None else {}, "tool_call_id": c.tool_call_id}
            for c in requests.approvals
        ]
        first = pending[0]
        interrupt = {
            "type": "tool_approval",
            "question": f"Allow the agent to call `{first['tool']}` with {first['arguments']}? "
            "Resume with True to approve or False to deny.",
            **first,
            "pending": pending,
        }
        await self.saved.save_interrupt(messages, interrupt)
        return await self.recorder.interrupted(interrupt)
