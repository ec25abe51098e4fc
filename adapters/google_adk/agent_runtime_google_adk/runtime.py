"""`GoogleADKRuntime`: a Google ADK agent as an agent-runtime-core `AgentRuntime`.

How one run goes (see the package README for the full mapping):

1. Each run gets its own ADK `Runner` over a resumable `App` holding the agent, our `Translation`
   plugin (first, then the user's plugins) and a `StateStoreSessionService`: the run's session
   (id = the run id) lives in the runner's `StateStore`, written as ADK appends each event.
2. The run's last input message is the user's message (earlier ones are put in the session first);
   `Runner.run_async` is streamed (SSE) and its callbacks are reported to the run's `RunRecorder`.
3. A run executed again after a crash resumes ADK's invocation from the saved session (ADK runs the
   tool calls that have no response, without asking the model again); a tool asking for a
   confirmation, or a long-running tool, ends the run RUN_INTERRUPTED, and
   `AgentRunner.resume(run_id, answer)` sends the answer as the function response ADK expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from google.adk.agents import BaseAgent, RunConfig
from google.adk.agents.run_config import StreamingMode  # type: ignore[attr-defined]
from google.adk.apps import App, ResumabilityConfig
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.genai import types

from agent_runtime_core import AgentRuntime, RunContext, RunResult
from agent_runtime_core.errors import InvalidInputError, NonRetriableError, RunCancelledError
from agent_runtime_core.integration import RunRecorder, to_jsonable
from agent_runtime_core.state import InMemoryStateStore

from ._convert import (
    CONFIRMATION_TOOL,
    events_to_messages,
    history_events,
    new_message,
    unwrap_result,
)
from ._state import CHECKPOINT_FORMAT, Saved, StateStoreSessionService
from ._translate import Translation

__all__ = ["CHECKPOINT_FORMAT", "GoogleADKNonRetriableError", "GoogleADKRuntime"]

_RETRIABLE_HTTP_STATUSES = frozenset({408, 409, 429})


class GoogleADKNonRetriableError(NonRetriableError):
    """An ADK failure another attempt would only repeat (a 4xx answer of the model API, a bad
    configuration). The ADK or LiteLLM exception is its `__cause__`."""


def _is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, ValueError | TypeError):
        return False
    status = getattr(exc, "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in _RETRIABLE_HTTP_STATUSES)


def _agents(root: BaseAgent) -> dict[str, BaseAgent]:
    """Every agent of the tree, by name."""
    found: dict[str, BaseAgent] = {}
    pending = [root]
    while pending:
        agent = pending.pop()
        found.setdefault(agent.name, agent)
        pending.extend(agent.sub_agents)
    return found


class GoogleADKRuntime(AgentRuntime):
    """Runs a Google ADK agent (`LlmAgent`, `SequentialAgent`, `ParallelAgent`, `LoopAgent`, with
    sub-agents and transfers) as an `AgentRuntime`.

    Example::

        from google.adk.agents import LlmAgent
        from google.adk.models.lite_llm import LiteLlm
        from agent_runtime_core import AgentRunner
        from agent_runtime_google_adk import GoogleADKRuntime

        agent = LlmAgent(name="weather", instruction="...", tools=[get_weather],
                         model=LiteLlm(model="openai/gpt-4o-mini", api_base=url, api_key=key))
        result = await AgentRunner().execute(GoogleADKRuntime(agent), input_data="Weather in Paris?")

    Every run gets its own ADK `Runner` and plugin, so one runtime serves many concurrent runs.
    """

    def __init__(
        self,
        agent: BaseAgent,
        *,
        key: str | None = None,
        app_name: str | None = None,
        user_id: str = "agent-runtime",
        plugins: Sequence[BasePlugin] = (),
        streaming: bool = True,
        handle_tool_errors: bool = True,
        run_config: RunConfig | None = None,
    ) -> None:
        """Wrap `agent`.

        Args:
            agent: The root ADK agent; its sub-agents run as steps inside its step.
            key: The runtime's key (registry, events); defaults to the agent's name.
            app_name: ADK's app name (sessions are kept per app); defaults to the key. A name
                made of letters, digits and underscores (ADK's rule for app names).
            user_id: ADK's user id of the runs' sessions (`user:` state is kept per user).
            plugins: Your ADK plugins, called after ours for every run.
            streaming: Stream model responses (SSE: ASSISTANT_DELTA events); False asks for
                whole responses.
            handle_tool_errors: A tool's exception goes to the model as `{"error": "<Type>:
                <message>"}` (as the other adapters' frameworks do); False lets it fail the run.
            run_config: ADK's `RunConfig` (its `streaming_mode` is set from `streaming`).
        """
        if not isinstance(agent, BaseAgent):
            raise TypeError(
                "GoogleADKRuntime wraps a Google ADK agent (google.adk.agents.BaseAgent); got "
                f"{type(agent).__module__}.{type(agent).__qualname__}."
            )
        resolved_key = key if key is not None else agent.name
        if not isinstance(resolved_key, str) or not resolved_key:
            raise ValueError(f"`key` must be a non-empty string; got {resolved_key!r}.")
        self.agent = agent
        self.app_name = app_name or "".join(c if c.isalnum() or c == "_" else "_" for c in resolved_key)
        self.user_id = user_id
        self.plugins = list(plugins)
        self.handle_tool_errors = handle_tool_errors
        base = run_config if run_config is not None else RunConfig()
        mode = StreamingMode.SSE if streaming else StreamingMode.NONE
        self.run_config = base.model_copy(update={"streaming_mode": mode})
        self._key = resolved_key
        self._agents = _agents(agent)

    @property
    def key(self) -> str:
        """The runtime's key."""
        return self._key

    async def run(self, ctx: RunContext) -> RunResult:
        """Run the agent for one run (or continue it from its checkpoint)."""
        return await _Run(self, ctx).execute()


class _Run:
    """One execution of a run: its runner, its plugin, its checkpoint."""

    def __init__(self, runtime: GoogleADKRuntime, ctx: RunContext) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.recorder = RunRecorder(ctx)
        self.saved = Saved(ctx)
        self.translation = Translation(self.recorder, runtime._agents, handle_tool_errors=runtime.handle_tool_errors)
        self.sessions = StateStoreSessionService(ctx.state_store if ctx.state_store is not None else InMemoryStateStore())
        with warnings.catch_warnings():  # ADK marks resumability experimental
            warnings.simplefilter("ignore")
            app = App(
                name=runtime.app_name,
                root_agent=runtime.agent,
                plugins=[self.translation, *runtime.plugins],
                resumability_config=ResumabilityConfig(is_resumable=True),
            )
        self.runner = Runner(app=app, session_service=self.sessions)
        self.started = False  # the invocation's id is saved

    async def execute(self) -> RunResult:
        ctx, saved = self.ctx, self.saved
        checkpoint = await saved.load()
        status = checkpoint.get("status") if checkpoint is not None else None
        if status == "done":
            assert checkpoint is not None
            return RunResult(final_output=dict(checkpoint.get("final_output") or {}), final_messages=list(checkpoint.get("final_messages") or []))
        message: types.Content | None = None
        invocation_id: str | None = None
        if ctx.is_resuming:
            if checkpoint is None or status != "interrupted":
                raise NonRetriableError(
                    f"Run {ctx.run_id!r} has no saved question to resume (its checkpoint is "
                    f"{'missing' if checkpoint is None else repr(status)})."
                )
            message = _answer(checkpoint["interrupt"]["pending"], ctx.resume_value)
            for item, part in zip(checkpoint["interrupt"]["pending"], message.parts or [], strict=False):
                fr = part.function_response
                if item["type"] == "long_running_tool" and fr is not None:  # the answer is its result
                    await self.recorder.tool_result(
                        item["tool_call_id"], unwrap_result(fr.response), name=item["tool"], arguments=item["arguments"]
                    )
            await saved.save({**checkpoint, "status": "running", "answer": to_jsonable(message.model_dump(mode="json", exclude_none=True))}, force=True)
        elif status == "interrupted":
            assert checkpoint is not None
            return RunResult(interrupt=dict(checkpoint.get("interrupt") or {}))  # executed again: ask again
        elif status == "running":
            assert checkpoint is not None
            if checkpoint.get("answer") is not None:  # the answer was given, then the process died
                message = types.Content.model_validate(checkpoint["answer"])
            else:
                invocation_id = checkpoint.get("invocation_id")
        if message is None and invocation_id is None:
            if not ctx.input_messages:
                raise InvalidInputError("The run has no input messages for the agent.")
            await self.new_session(ctx.input_messages[:-1])
            message = new_message(ctx.input_messages[-1])
        return await self.stream(message, invocation_id)

    async def new_session(self, history: Sequence[Mapping[str, Any]]) -> None:
        ctx, runtime = self.ctx, self.runtime
        session = await self.sessions.get_session(app_name=runtime.app_name, user_id=runtime.user_id, session_id=ctx.run_id)
        if session is not None:  # an earlier attempt that never started an invocation
            await self.sessions.delete_session(app_name=runtime.app_name, user_id=runtime.user_id, session_id=ctx.run_id)
        session = await self.sessions.create_session(app_name=runtime.app_name, user_id=runtime.user_id, session_id=ctx.run_id)
        for event in history_events(history, f"input-{ctx.run_id}", runtime.agent.name):
            await self.sessions.append_event(session, event)

    async def consume(self, message: types.Content | None, invocation_id: str | None) -> None:
        async for event in self.runner.run_async(
            user_id=self.runtime.user_id, session_id=self.ctx.run_id, new_message=message,
            invocation_id=invocation_id, run_config=self.runtime.run_config,
        ):
            # The first whole event (a model response, before its tools run) is in the session:
            # from here on a run executed again resumes this invocation.
            if not event.partial and self.translation.invocation_id is not None and not self.started:
                self.started = True
                await self.saved.save({"status": "running", "invocation_id": self.translation.invocation_id})

    async def stream(self, message: types.Content | None, invocation_id: str | None) -> RunResult:
        """Run ADK's runner, translating as it goes; stop it when the run is cancelled."""
        ctx = self.ctx
        consumer = asyncio.ensure_future(self.consume(message, invocation_id))
        cancelled = asyncio.ensure_future(ctx.wait_cancelled())
        try:
            await asyncio.wait({consumer, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not consumer.done():  # cancelled: stop ADK (and its model call) now
                consumer.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(consumer, timeout=5.0)
                raise RunCancelledError("The run was cancelled.", run_id=ctx.run_id)
            consumer.result()
        except BaseException as exc:
            await self.recorder.failed(exc)
            if isinstance(exc, Exception) and not isinstance(exc, RunCancelledError) and not _is_retriable(exc):
                raise GoogleADKNonRetriableError(f"{type(exc).__name__}: {exc}") from exc
            raise
        finally:
            cancelled.cancel()
            if not consumer.done():
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        pending = self.translation.pending()
        if pending:
            return await self.interrupted(pending)
        return await self.finished()

    async def interrupted(self, pending: list[dict[str, Any]]) -> RunResult:
        first = pending[0]
        if first["type"] == "tool_confirmation":
            question = (f"Allow the agent to call `{first['tool']}` with {first['arguments']}? "
                        "Resume with True to approve or False to reject.")
        else:
            question = f"`{first['tool']}` is running; resume with its result."
        interrupt = to_jsonable({"question": question, **first, "pending": pending})
        await self.saved.save({"status": "interrupted", "interrupt": interrupt, "invocation_id": self.translation.invocation_id}, force=True)
        return await self.recorder.interrupted(interrupt)

    async def finished(self) -> RunResult:
        runtime, t = self.runtime, self.translation
        session = await self.sessions.get_session(app_name=runtime.app_name, user_id=runtime.user_id, session_id=self.ctx.run_id)
        final_messages = events_to_messages(session.events) if session is not None else []
        final_output = {"response": t.final_text, "agent": t.final_agent or runtime.agent.name}
        await self.saved.save({"status": "done", "final_output": final_output, "final_messages": final_messages})
        return await self.recorder.finished(t.final_text, final_messages=final_messages, agent=final_output["agent"])


def _answer(pending: list[dict[str, Any]], value: Any) -> types.Content:
    """The human's answer as the function responses ADK waits for: a confirmation takes True/False
    or {"confirmed": bool, "payload": ...}; a long-running tool takes its result (a dict, or
    any value, sent as {"result": value}). Several pending calls take a dict by tool call id."""
    parts = []
    for item in pending:
        answer = value.get(item["tool_call_id"], value) if isinstance(value, Mapping) and len(pending) > 1 else value
        if item["type"] == "tool_confirmation":
            if isinstance(answer, Mapping) and isinstance(answer.get("confirmed", answer.get("approved")), bool):
                response = {"confirmed": answer.get("confirmed", answer.get("approved")), **({"payload": answer["payload"]} if "payload" in answer else {})}
            elif isinstance(answer, bool):
                response = {"confirmed": answer}
            else:
                raise InvalidInputError(
                    "Resume a Google ADK tool confirmation with True/False or {'confirmed': bool, "
                    f"'payload': ... (optional)}}; got {answer!r}."
                )
            fr = types.FunctionResponse(id=item["confirmation_id"], name=CONFIRMATION_TOOL, response=response)
        else:
            response = dict(answer) if isinstance(answer, Mapping) else {"result": to_jsonable(answer)}
            fr = types.FunctionResponse(id=item["tool_call_id"], name=item["tool"], response=response)
        parts.append(types.Part(function_response=fr))
    return types.Content(role="user", parts=parts)
