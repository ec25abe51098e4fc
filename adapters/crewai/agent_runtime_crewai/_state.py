"""What a run keeps in the StateStore, and how a run executed again or resumed continues from it.

- **Completed tasks.** Each task's output is stored under `crewai:<run_id>:task:<index>` as soon as
  the task completes (with a CHECKPOINT event). A run executed again with the same run_id (a crash,
  a retry, a resume) gives the leading tasks whose stored fingerprint still matches their stored
  outputs, so CrewAI starts at the first task not done and no finished task is redone.
- **A question for a human.** A task with `human_input=True` asks for feedback on its answer. The
  run's `HumanReview` (CrewAI's `HumanInputProvider` for this run) saves the question, the answer
  and the agent's conversation as the run's checkpoint and stops the run (RUN_INTERRUPTED).
  `runner.resume(run_id, feedback)` continues it: empty feedback accepts the answer (the task
  completes with it, no model call); other text is appended to the saved conversation, as CrewAI
  does, and the agent answers again (one model call), then asks again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent_runtime_core import RunContext
from agent_runtime_core.errors import InvalidInputError, NonRetriableError
from agent_runtime_core.integration import to_jsonable

from ._convert import task_output, task_record

if TYPE_CHECKING:
    from crewai import Crew, Task

__all__ = [
    "CHECKPOINT_FORMAT",
    "STATE_PREFIX",
    "HumanInputRequested",
    "HumanReview",
    "Saved",
    "normalize_feedback",
    "state_key",
    "task_fingerprint",
]

STATE_PREFIX = "crewai"
"""Keys in the StateStore: `crewai:<run_id>:task:<index>` (one completed task output each)."""

CHECKPOINT_FORMAT = "crewai/1"
"""The `format` of the run checkpoint this adapter writes (a question waiting for a human)."""


def state_key(run_id: str, index: int | None = None) -> str:
    """The StateStore key of task `index`'s output in run `run_id` (or the run's prefix)."""
    prefix = f"{STATE_PREFIX}:{run_id}:task:"
    return prefix if index is None else f"{prefix}{index:05d}"


def task_fingerprint(task: Task) -> str:
    """What identifies a task across executions of one run (its templates and its agent)."""
    description = getattr(task, "_original_description", None) or task.description
    expected = getattr(task, "_original_expected_output", None) or task.expected_output
    role = getattr(task.agent, "role", "") if task.agent is not None else ""
    data = json.dumps([description, expected, role, task.name], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def normalize_feedback(value: Any) -> str:
    """The human's answer to a review: text ('' or True accepts the task's answer)."""
    if value is None or value is True:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("feedback", ""), str):
        return str(value.get("feedback", ""))
    raise InvalidInputError(
        "Resume a CrewAI human_input task with its feedback as text ('' or True accepts the answer); "
        f"got {type(value).__name__}."
    )


class HumanInputRequested(BaseException):  # noqa: N818  (a signal, not an error)
    """Raised inside CrewAI when a task asks for human feedback: ends the run as interrupted.

    A BaseException, so CrewAI's `except Exception` retry and failure paths let it through."""

    def __init__(self, task_index: int, answer: str, messages: list[dict[str, Any]]) -> None:
        super().__init__(f"task {task_index} waits for human feedback")
        self.task_index = task_index
        self.answer = answer
        self.messages = messages


class Saved:
    """One run's stored progress: completed task outputs and a pending question."""

    def __init__(self, ctx: RunContext, crew: Crew, *, ttl_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.crew = crew
        self.ttl_seconds = ttl_seconds
        self.fingerprints = [task_fingerprint(task) for task in crew.tasks]
        self.outputs: dict[int, dict[str, Any]] = {}

    async def save_task(self, index: int, name: str, output: Any) -> str | None:
        """Store a completed task's output; its key, or None without a state store."""
        record = task_record(index, self.fingerprints[index] if index < len(self.fingerprints) else None, name, output)
        self.outputs[index] = record
        store = self.ctx.state_store
        if store is None:
            return None
        key = state_key(self.ctx.run_id, index)
        await store.set(key, record, ttl_seconds=self.ttl_seconds)
        return key

    async def restore(self) -> list[dict[str, Any]]:
        """Give the leading tasks an earlier execution completed their stored outputs."""
        store = self.ctx.state_store
        if store is None:
            return []
        records: dict[int, dict[str, Any]] = {}
        for key in await store.list_keys(state_key(self.ctx.run_id)):
            record = await store.get(key)
            if isinstance(record, dict) and isinstance(record.get("index"), int):
                records[record["index"]] = record
        restored: list[dict[str, Any]] = []
        for index, task in enumerate(self.crew.tasks):
            record = records.get(index)
            if record is None or record.get("fingerprint") != self.fingerprints[index]:
                break  # run the rest: sequential tasks depend on what came before
            task.output = task_output(record, task)
            self.outputs[index] = record
            restored.append(record)
        return restored

    async def pending_question(self) -> dict[str, Any] | None:
        """The question an interrupted execution of this run left, if any."""
        if self.ctx.state_store is None:
            return None
        checkpoint = await self.ctx.get_checkpoint()
        if checkpoint is None or checkpoint.get("format") != CHECKPOINT_FORMAT:
            return None
        return checkpoint if checkpoint.get("status") == "interrupted" else None

    async def save_question(self, asked: HumanInputRequested, interrupt: dict[str, Any]) -> None:
        """Checkpoint the question (resume needs it: a state store is required)."""
        if self.ctx.state_store is None:
            raise NonRetriableError("A human_input task needs a state store to wait for the human; give the AgentRunner one.")
        state = {"format": CHECKPOINT_FORMAT, "status": "interrupted", "task_index": asked.task_index,
                 "answer": asked.answer, "messages": asked.messages, "interrupt": interrupt}
        await self.ctx.checkpoint(state)

    async def clear_question(self) -> None:
        """The question was answered: the checkpoint says so (a re-execution does not ask again)."""
        if self.ctx.state_store is not None:
            await self.ctx.state_store.save_checkpoint(self.ctx.run_id, {"format": CHECKPOINT_FORMAT, "status": "running"})


class HumanReview:
    """CrewAI's `HumanInputProvider` for one run (set in the run's context, never globally).

    CrewAI asks it for feedback when a `human_input=True` task has an answer; instead of reading
    the console it raises `HumanInputRequested`. On resume with feedback it gives the interrupted
    task's agent its saved conversation plus the feedback (`setup_messages`), as CrewAI's own
    feedback loop would, so the agent answers again without redoing its earlier model calls.
    """

    def __init__(self, crew: Crew, resume_at: int | None = None, messages: list[dict[str, Any]] | None = None,
                 feedback: str = "") -> None:
        self.crew = crew
        self.resume_at = resume_at
        self.messages = messages or []
        self.feedback = feedback

    def _index(self, context: Any) -> int:
        task = getattr(context, "task", None)
        return next((i for i, t in enumerate(self.crew.tasks) if t is task), -1)

    def setup_messages(self, context: Any) -> bool:
        """On resume, the interrupted task's agent starts from its conversation plus the feedback."""
        if self.resume_at is None or self._index(context) != self.resume_at:
            return False
        self.resume_at = None  # once
        context.messages = [*self.messages, context._format_feedback_message(self.feedback)]
        return True

    def post_setup_messages(self, context: Any) -> None:
        """Nothing to add after CrewAI's own set-up."""

    @staticmethod
    def _get_output_string(answer: Any) -> str:
        output = answer.output
        return output if isinstance(output, str) else str(output.model_dump_json())

    def _ask(self, formatted_answer: Any, context: Any) -> HumanInputRequested:
        answer = self._get_output_string(formatted_answer)
        messages = [dict(m) for m in to_jsonable(list(context.messages))]
        if not messages or messages[-1].get("role") != "assistant":
            messages.append({"role": "assistant", "content": answer})
        return HumanInputRequested(self._index(context), answer, messages)

    def handle_feedback(self, formatted_answer: Any, context: Any) -> Any:
        """Stop the run here: the human answers through `runner.resume`."""
        raise self._ask(formatted_answer, context)

    async def handle_feedback_async(self, formatted_answer: Any, context: Any) -> Any:
        """Stop the run here: the human answers through `runner.resume`."""
        raise self._ask(formatted_answer, context)
