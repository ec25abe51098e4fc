"""`CrewAIRuntime`: a CrewAI `Crew` as an agent-runtime-core `AgentRuntime`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeGuard

from agent_runtime_core import (
    AgentRuntime,
    EventType,
    RunCancelledError,
    RunContext,
    RunResult,
    UserError,
)
from agent_runtime_core.errors import NonRetriableError
from agent_runtime_core.integration import RunRecorder, get_logger

from ._convert import accepted_output, default_inputs, final_output
from ._state import HumanInputRequested, HumanReview, Saved, normalize_feedback
from ._translate import Translation, install_global_handlers

if TYPE_CHECKING:
    from crewai import Crew

__all__ = ["CrewAIRuntime", "InputMapper", "default_inputs"]

logger = get_logger("agent_runtime_crewai")

InputMapper = Callable[[RunContext], Mapping[str, Any]]
"""Builds a crew's kickoff `inputs` from the run's context."""


def _is_crew(value: Any) -> TypeGuard[Crew]:
    from crewai import Crew

    return isinstance(value, Crew)


def _check_crew(crew: Any) -> Crew:
    if not _is_crew(crew):
        raise UserError(
            f"CrewAIRuntime needs a crewai.Crew (or a zero-argument callable returning one); got "
            f"{type(crew).__name__}. Wrap a single agent in Crew(agents=[agent], tasks=[task])."
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
    further model and tool calls. A `human_input=True` task ends the run RUN_INTERRUPTED with its
    answer to review; `runner.resume(run_id, feedback)` accepts it ('') or has the agent revise it.

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
    async def _kickoff(crew: Crew, inputs: dict[str, Any], review: HumanReview) -> Any:
        from crewai.core.providers.human_input import set_provider
        from crewai.types.streaming import CrewStreamingOutput

        set_provider(review)  # in this task's own context: this run's human_input tasks only
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
        saved = Saved(ctx, crew, ttl_seconds=self.state_ttl_seconds)
        question = await saved.pending_question()
        if ctx.is_resuming and question is None:
            raise NonRetriableError(f"Run {ctx.run_id!r} has no question waiting for a human (no saved checkpoint).")
        if question is not None and not ctx.is_resuming:  # executed again, not answered: ask again
            return RunResult(interrupt=dict(question.get("interrupt") or {}))
        restored = await saved.restore() if self.resume or question is not None else []
        recorder = RunRecorder(ctx)
        translation = Translation(recorder, crew, saved, gap_seconds=self.gap_seconds, flush_timeout=self.flush_timeout)
        translation.next_seq = _reset_emission_sequence()
        translation.start()
        review = HumanReview(crew)
        kickoff: asyncio.Task[Any] | None = None
        try:
            for record in restored:
                await ctx.emit(EventType.STEP_SKIPPED, {"name": record.get("step") or f"task {record['index'] + 1}",
                               "kind": "task", "task_index": record["index"], "reason": "completed by an earlier execution"})
            if question is not None:
                await self._answer(translation, review, question, normalize_feedback(ctx.resume_value), len(restored))
            if any(task.output is not None for task in crew.tasks):
                self._prime_resume(crew, inputs)
            kickoff = asyncio.create_task(self._kickoff(crew, inputs, review), name=f"crewai-kickoff:{ctx.run_id}")
            cancelled = asyncio.create_task(ctx.wait_cancelled())
            try:
                await asyncio.wait({kickoff, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                cancelled.cancel()
            if not kickoff.done():
                raise RunCancelledError("Cancelled while the crew was running.", run_id=ctx.run_id)
            output = kickoff.result()
        except HumanInputRequested as asked:
            await self._stop(translation, crew, kickoff)
            name = translation.task_name(asked.task_index)
            interrupt = {"question": f"Review the answer of task {name!r}: reply '' to accept it, or with feedback "
                         "for the agent to answer again.", "task": name, "task_index": asked.task_index,
                         "answer": asked.answer}
            await saved.save_question(asked, interrupt)
            return await recorder.interrupted(interrupt)
        except asyncio.CancelledError as exc:
            translation.stopped = True
            if kickoff is not None:
                kickoff.cancel()
            _stop_orphans(crew)
            await translation.finish(flush=False)
            await recorder.failed(exc)
            raise
        except BaseException as exc:
            await self._stop(translation, crew, kickoff)
            if ctx.is_cancelled() and not isinstance(exc, RunCancelledError):
                cancel = RunCancelledError("Cancelled while the crew was running.", run_id=ctx.run_id)
                await recorder.failed(cancel)
                raise cancel from exc
            await recorder.failed(exc)
            raise
        await translation.finish()
        response = str(getattr(output, "raw", "") or "")
        messages = [*(dict(m) for m in ctx.input_messages), {"role": "assistant", "content": response}]
        return await recorder.finished(response, final_messages=messages, **final_output(output))

    @staticmethod
    async def _stop(translation: Translation, crew: Crew, kickoff: asyncio.Task[Any] | None) -> None:
        """The run ends early: block its calls, stop CrewAI, report what CrewAI still reports."""
        translation.stopped = True
        if kickoff is not None and not kickoff.done():
            kickoff.cancel()
            await asyncio.wait({kickoff}, timeout=1.0)  # let CrewAI unwind its kickoff
        _stop_orphans(crew)
        try:
            await translation.finish()
        except Exception:
            logger.exception("Run %s: could not emit CrewAI's last events.", translation.ctx.run_id)

    @staticmethod
    async def _answer(translation: Translation, review: HumanReview, question: Mapping[str, Any], feedback: str,
                      done: int) -> None:
        """Continue at the task that asked: accepted ('' feedback), it completes with its answer;
        otherwise its agent gets its conversation and the feedback (`HumanReview`)."""
        index = int(question["task_index"])
        if done != index:
            raise NonRetriableError(
                f"Run {translation.ctx.run_id!r} cannot resume: its crew changed since task {index} asked for feedback."
            )
        task = translation.crew.tasks[index]
        await translation.saved.clear_question()
        if feedback.strip():
            review.resume_at, review.messages, review.feedback = index, list(question["messages"]), feedback
            return
        output = await asyncio.to_thread(accepted_output, task, index, str(question["answer"]))
        task.output = output
        await translation._on_task_started(task, None)
        await translation._on_task_completed(task, SimpleNamespace(output=output))
