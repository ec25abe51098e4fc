"""`CrewAIRuntime`: a CrewAI `Crew` as an agent-runtime-core `AgentRuntime`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

from agent_runtime_core import (
    AgentRuntime,
    EventType,
    RunCancelledError,
    RunContext,
    RunResult,
    UserError,
)

from ._bridge import RunBridge, install_global_handlers, state_key, task_fingerprint

if TYPE_CHECKING:
    from crewai import Crew, Task

__all__ = ["CrewAIRuntime", "InputMapper", "default_inputs"]

logger = logging.getLogger("agent_runtime_crewai")

InputMapper = Callable[[RunContext], Mapping[str, Any]]
"""Builds a crew's kickoff `inputs` from the run's context."""


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def default_inputs(ctx: RunContext) -> dict[str, Any]:
    """The crew's kickoff inputs when no mapper is given.

    - `input`: the text of the run's last user message ("" when there is none), so a task whose
      description is `"{input}"` gets the user's question;
    - `messages`: the whole conversation as text, one `role: content` line per message;
    - every key of `input_data["inputs"]` when the run was submitted with such a dict, e.g.
      `runner.execute(runtime, input_data={"inputs": {"topic": "AI"}})` (these win).
    """
    messages = ctx.input_messages
    last_user = next((_message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    inputs: dict[str, Any] = {
        "input": last_user,
        "messages": "\n".join(f"{m.get('role')}: {_message_text(m)}" for m in messages),
    }
    extra = ctx.input_data.get("inputs") if isinstance(ctx.input_data, Mapping) else None
    if isinstance(extra, Mapping):
        inputs.update(extra)
    return inputs


def _is_crew(value: Any) -> TypeGuard[Crew]:
    from crewai import Crew

    return isinstance(value, Crew)


def _check_crew(crew: Any) -> Crew:
    if not _is_crew(crew):
        raise UserError(
            f"CrewAIRuntime needs a crewai.Crew (or a zero-argument callable returning one); got "
            f"{type(crew).__name__}. Wrap a single agent in Crew(agents=[agent], tasks=[task])."
        )
    console_tasks = [i for i, task in enumerate(crew.tasks) if getattr(task, "human_input", False)]
    if console_tasks:
        raise UserError(
            f"Task(s) {console_tasks} have human_input=True: CrewAI then reads the human's answer "
            "from the console (input()), which would block a runtime worker. Remove human_input; "
            "see the README's 'Human in the loop' section for what CrewAIRuntime supports."
        )
    return crew


def _reset_emission_sequence() -> int:
    """Start CrewAI's per-context event numbering afresh, as `kickoff` does; return the next number."""
    try:
        from crewai.events.base_events import get_emission_sequence, reset_emission_counter
        from crewai.events.event_context import get_current_parent_id, reset_last_event_id
    except ImportError:  # a CrewAI without these helpers: the reorder buffer copes with gaps
        return 1
    if get_current_parent_id() is None:
        reset_emission_counter()
        reset_last_event_id()
    return int(get_emission_sequence()) + 1


def _task_output(record: Mapping[str, Any], task: Task) -> Any:
    from crewai.tasks.output_format import OutputFormat
    from crewai.tasks.task_output import TaskOutput

    json_dict = record.get("json_dict")
    pydantic_obj = None
    model = getattr(task, "output_pydantic", None)
    if model is not None and isinstance(json_dict, dict):
        with contextlib.suppress(Exception):
            pydantic_obj = model.model_validate(json_dict)
    try:
        output_format = OutputFormat(record.get("output_format") or "raw")
    except ValueError:
        output_format = OutputFormat.RAW
    return TaskOutput(
        description=str(record.get("description") or task.description),
        name=record.get("name"),
        expected_output=record.get("expected_output"),
        summary=record.get("summary"),
        raw=str(record.get("raw") or ""),
        pydantic=pydantic_obj,
        json_dict=json_dict if isinstance(json_dict, dict) else None,
        agent=str(record.get("agent") or ""),
        output_format=output_format,
    )


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: asyncio does not log "exception was never retrieved"


def _stop_orphans(crew: Crew, *, cancel: bool = True) -> int:
    """Cancel the asyncio tasks CrewAI started for this crew's `async_execution` tasks.

    `akickoff` runs such tasks with `asyncio.create_task` and awaits them later; cancelling
    `akickoff` cancels only the one it is awaiting, so the others would run on (the global hooks
    would still block their model and tool calls). They are found by the CrewAI `Task` their
    coroutine (`Task.aexecute_sync`) belongs to. Returns how many were found.
    """
    mine = {id(task) for task in crew.tasks}
    stopped = 0
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        if id(owner) in mine and not task.done():
            task.add_done_callback(_retrieve)
            if cancel:
                task.cancel()
            stopped += 1
    return stopped


class CrewAIRuntime(AgentRuntime):
    """Runs a CrewAI `Crew` under `AgentRunner`: events, durable task outputs, cancellation.

    Each run kicks off its own copy of the crew (`crew.copy()`, as CrewAI's own
    `kickoff_for_each` does), with CrewAI's native async `Crew.akickoff`, so many runs of one
    runtime may execute at once in one process. CrewAI's process-global event bus is translated
    into the run's own events (see the README's mapping table); each completed task's output is
    stored in the runner's StateStore, so a run executed again with the same run_id (after a
    crash, or a retry) skips the tasks already done; `runner.cancel(run_id)` blocks the run's
    further model and tool calls.

    Example::

        runtime = CrewAIRuntime(crew, key="weather-crew")
        result = await AgentRunner().execute(runtime, input_data="What's the weather in Paris?")
        result.final_output["response"]
    """

    def __init__(
        self,
        crew: Crew | Callable[[], Crew],
        *,
        key: str,
        inputs: InputMapper | Mapping[str, Any] | None = None,
        resume: bool = True,
        state_ttl_seconds: float | None = None,
        gap_seconds: float = 0.5,
        flush_timeout: float = 10.0,
    ) -> None:
        """Wrap a crew.

        Args:
            crew: A `crewai.Crew`, copied for each run, or a zero-argument callable that builds a
                fresh crew for each run (use it when `Crew.copy()` does not fit your crew).
            key: The runtime's key (registry and events).
            inputs: How the run's input becomes the crew's kickoff `inputs`: None for
                `default_inputs` (`input` = the last user message, `messages` = the
                conversation, plus `input_data["inputs"]`); a mapping, merged over that default;
                or a callable `ctx -> dict` that replaces it.
            resume: Skip tasks whose output a previous execution of the same run stored (True).
            state_ttl_seconds: Expire stored task outputs after this long (None: keep them).
            gap_seconds: How long to wait for a missing CrewAI event before emitting later ones.
            flush_timeout: How long to wait at the end of a run for CrewAI's event handlers.
        """
        if not isinstance(key, str) or not key:
            raise UserError(f"`key` must be a non-empty string; got {key!r}.")
        if _is_crew(crew):
            _check_crew(crew)
        elif not callable(crew):
            raise UserError(
                f"CrewAIRuntime needs a crewai.Crew or a zero-argument callable returning one; got {type(crew).__name__}."
            )
        if inputs is not None and not callable(inputs) and not isinstance(inputs, Mapping):
            raise UserError(f"`inputs` must be a mapping or a callable `ctx -> dict`; got {type(inputs).__name__}.")
        self._key = key
        self._crew = crew
        self._inputs = inputs
        self.resume = resume
        self.state_ttl_seconds = state_ttl_seconds
        self.gap_seconds = gap_seconds
        self.flush_timeout = flush_timeout
        install_global_handlers()

    @property
    def key(self) -> str:
        """The runtime's key."""
        return self._key

    @property
    def crew(self) -> Crew | Callable[[], Crew]:
        """The wrapped crew (or crew factory); runs use copies, never this object."""
        return self._crew

    # -- per run ---------------------------------------------------------------------------

    def _crew_for_run(self) -> Crew:
        if _is_crew(self._crew):
            return self._crew.copy()
        return _check_crew(self._crew())  # type: ignore[operator]

    def _inputs_for(self, ctx: RunContext) -> dict[str, Any]:
        if callable(self._inputs):
            mapped = self._inputs(ctx)
            if not isinstance(mapped, Mapping):
                raise UserError(f"The `inputs` mapper must return a mapping; got {type(mapped).__name__}.")
            return dict(mapped)
        inputs = default_inputs(ctx)
        if isinstance(self._inputs, Mapping):
            inputs.update(self._inputs)
        return inputs

    async def _restore(self, ctx: RunContext, crew: Crew, fingerprints: list[str]) -> list[dict[str, Any]]:
        """Give the leading tasks already completed by an earlier execution their stored outputs."""
        store = ctx.state_store
        if not self.resume or store is None:
            return []
        records: dict[int, dict[str, Any]] = {}
        for key in await store.list_keys(state_key(ctx.run_id)):
            record = await store.get(key)
            if isinstance(record, dict) and isinstance(record.get("index"), int):
                records[record["index"]] = record
        restored: list[dict[str, Any]] = []
        for index, task in enumerate(crew.tasks):
            record = records.get(index)
            if record is None or record.get("fingerprint") != fingerprints[index]:
                break  # run the rest: sequential tasks depend on what came before
            task.output = _task_output(record, task)
            restored.append(record)
        return restored

    @staticmethod
    def _prime_resume(crew: Crew, inputs: dict[str, Any]) -> None:
        """Make `akickoff` skip the tasks that have outputs, as after CrewAI's own restore.

        CrewAI starts at the first task without output when `checkpoint_kickoff_event_id` is set
        (`Crew._get_execution_start_index`); the completed tasks' outputs become the context of
        the next ones. Like `Crew.replay`, we emit the kickoff-started event ourselves, so that
        CrewAI's event scopes stay paired.
        """
        from crewai.events import crewai_event_bus
        from crewai.events.types.crew_events import CrewKickoffStartedEvent

        started = CrewKickoffStartedEvent(crew_name=crew.name, inputs=inputs)
        crewai_event_bus.emit(crew, started)
        crew.checkpoint_kickoff_event_id = started.event_id
        crew._kickoff_event_id = started.event_id

    @staticmethod
    async def _kickoff(crew: Crew, inputs: dict[str, Any]) -> Any:
        from crewai.types.streaming import CrewStreamingOutput

        result = await crew.akickoff(inputs=inputs)
        if isinstance(result, CrewStreamingOutput):  # Crew(stream=True): drain it, keep the result
            async for _chunk in result:
                pass
            result = result.result
        return result

    async def run(self, ctx: RunContext) -> RunResult:
        """Kick off the run's copy of the crew and translate what it does into the run's events."""
        crew = self._crew_for_run()
        inputs = self._inputs_for(ctx)
        fingerprints = [task_fingerprint(task) for task in crew.tasks]
        restored = await self._restore(ctx, crew, fingerprints)

        bridge = RunBridge(
            ctx,
            crew,
            fingerprints=fingerprints,
            gap_seconds=self.gap_seconds,
            flush_timeout=self.flush_timeout,
            ttl_seconds=self.state_ttl_seconds,
        )
        bridge.next_seq = _reset_emission_sequence()
        bridge.start()
        kickoff: asyncio.Task[Any] | None = None
        try:
            for record in restored:
                await ctx.emit(
                    EventType.STEP_SKIPPED,
                    {"name": record.get("step") or f"task {record['index'] + 1}", "kind": "task",
                     "task_index": record["index"], "reason": "completed by an earlier execution"},
                )
                bridge.task_outputs[record["index"]] = record
            if restored:
                self._prime_resume(crew, inputs)
            kickoff = asyncio.create_task(self._kickoff(crew, inputs), name=f"crewai-kickoff:{ctx.run_id}")
            cancelled = asyncio.create_task(ctx.wait_cancelled())
            try:
                await asyncio.wait({kickoff, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                cancelled.cancel()
            if not kickoff.done():
                raise RunCancelledError("Cancelled while the crew was running.", run_id=ctx.run_id)
            output = kickoff.result()
        except asyncio.CancelledError:
            bridge.stopped = True
            if kickoff is not None:
                kickoff.cancel()
            _stop_orphans(crew)
            await bridge.finish(flush=False)
            raise
        except BaseException as exc:
            bridge.stopped = True
            if kickoff is not None and not kickoff.done():
                kickoff.cancel()
                await asyncio.wait({kickoff}, timeout=1.0)  # let CrewAI unwind its kickoff
            _stop_orphans(crew)
            try:
                await bridge.finish()
            except Exception:
                logger.exception("Run %s: could not emit CrewAI's last events.", ctx.run_id)
            if ctx.is_cancelled() and not isinstance(exc, RunCancelledError):
                raise RunCancelledError("Cancelled while the crew was running.", run_id=ctx.run_id) from exc
            raise
        await bridge.finish()
        return self._result(ctx, output)

    def _result(self, ctx: RunContext, output: Any) -> RunResult:
        response = str(getattr(output, "raw", "") or "")
        tasks = []
        for task_output in getattr(output, "tasks_output", None) or []:
            tasks.append({
                "name": getattr(task_output, "name", None),
                "agent": getattr(task_output, "agent", None),
                "raw": str(getattr(task_output, "raw", "") or ""),
            })
        final: dict[str, Any] = {"response": response, "tasks": tasks}
        json_dict = getattr(output, "json_dict", None)
        if isinstance(json_dict, dict):
            final["json"] = json_dict
        usage = getattr(output, "token_usage", None)
        if usage is not None and hasattr(usage, "model_dump"):
            final["token_usage"] = {k: v for k, v in usage.model_dump().items() if isinstance(v, int)}
        messages = [dict(m) for m in ctx.input_messages]
        messages.append({"role": "assistant", "content": response})
        return RunResult(final_output=final, final_messages=messages)
