"""`TaskStore`: tasks with states, dependencies, priorities, due dates and checkpoints; and what the
built-in backends share for tasks (applying changes, ready tasks, the task-list record, filters)."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from agent_runtime_core.errors import UserError

from ._model import utcnow
from .base import (
    RecordNotFoundError,
    Scope,
    _not_implemented,
    coerce_id,
    optional_enum,
    optional_id,
    require,
)
from .models import Task, TaskList, TaskState

__all__ = ["TaskStore", "apply_task_changes", "ready_tasks"]


_TASK_IMMUTABLE = frozenset({"id", "created_at"})
_TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(Task))


def apply_task_changes(task: Task, changes: dict[str, Any]) -> Task:
    """A copy of `task` with `changes` applied, `updated_at` moved forward, and the state times set.

    Going IN_PROGRESS sets `started_at` (once); going COMPLETE sets `completed_at`.
    """
    unknown = set(changes) - _TASK_FIELDS
    if unknown:
        raise UserError(
            f"Task has no field(s) {sorted(unknown)}; fields are {sorted(_TASK_FIELDS)}."
        )
    frozen = set(changes) & _TASK_IMMUTABLE
    if frozen:
        raise UserError(f"Task field(s) {sorted(frozen)} cannot be changed.")
    data = {f.name: getattr(task, f.name) for f in dataclasses.fields(Task)}
    data.update(changes)
    if "updated_at" not in changes:
        data["updated_at"] = utcnow()
    new = Task(**data)
    if new.state is TaskState.IN_PROGRESS and new.started_at is None:
        new.started_at = new.updated_at
    completing = new.state is TaskState.COMPLETE and task.state is not TaskState.COMPLETE
    if completing and "completed_at" not in changes:
        new.completed_at = new.updated_at
    return new


def ready_tasks(tasks: Iterable[Task], known: dict[UUID, Task] | None = None) -> list[Task]:
    """Tasks NOT_STARTED whose dependencies are all COMPLETE, most urgent first.

    Order: higher `priority` first, then earlier `due_at` (tasks without one last), then older
    `created_at`. A dependency on a task that does not exist keeps a task waiting.
    """
    task_list = list(tasks)
    by_id = dict(known) if known is not None else {t.id: t for t in task_list}
    ready = [
        t
        for t in task_list
        if t.state is TaskState.NOT_STARTED
        and all(
            (dep := by_id.get(d)) is not None and dep.state is TaskState.COMPLETE
            for d in t.dependencies
        )
    ]
    far = datetime.max.replace(tzinfo=UTC)
    ready.sort(key=lambda t: (-t.priority, t.due_at or far, t.created_at, str(t.id)))
    return ready


class TaskStore(ABC):
    """Tasks with states, dependencies, priorities, due dates and checkpoints.

    Required: `save`, `get`, `delete`, `list_tasks`. `update` and `get_ready_tasks` have defaults
    built on those (the built-in backends make `update` atomic). Optional: `save_task_list`,
    `get_task_list`.
    """

    @abstractmethod
    async def save(self, task: Task, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `task`."""

    @abstractmethod
    async def get(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> Task | None:
        """The task, or None."""

    @abstractmethod
    async def delete(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the task; True if it existed."""

    @abstractmethod
    async def list_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        state: TaskState | str | None = None,
        task_list_id: UUID | str | None = None,
    ) -> list[Task]:
        """Tasks matching every filter given, oldest first."""

    async def update(
        self, task_id: UUID | str, *, scope: Scope | str = Scope.PROJECT, **changes: Any
    ) -> Task:
        """Change some fields of a task and return it, e.g. `update(id, state=TaskState.COMPLETE)`.

        Moves `updated_at` forward and sets `started_at`/`completed_at` on state changes. Raises
        `RecordNotFoundError` if there is no such task, `UserError` for an unknown field.
        """
        task = await self.get(task_id, scope)
        if task is None:
            raise RecordNotFoundError(f"No task {task_id} in scope {scope!s}.")
        new = apply_task_changes(task, changes)
        await self.save(new, scope)
        return new

    async def get_ready_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        """Tasks NOT_STARTED whose dependencies are all COMPLETE: highest priority first, then
        earliest due, then oldest. Dependencies are looked up in the whole scope."""
        everything = await self.list_tasks(scope)
        known = {t.id: t for t in everything}
        candidates = everything
        if conversation_id is not None:
            cid = coerce_id(conversation_id, "conversation_id")
            candidates = [t for t in everything if t.conversation_id == cid]
        ready = ready_tasks(candidates, known)
        return ready if limit is None else ready[:limit]

    async def save_task_list(self, task_list: TaskList, scope: Scope | str = Scope.PROJECT) -> None:
        """Save the list and each of its tasks (setting their `task_list_id`)."""
        raise _not_implemented(self, "save_task_list")

    async def get_task_list(
        self, task_list_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> TaskList | None:
        """The list with its current tasks (in the order saved, then newer ones), or None."""
        raise _not_implemented(self, "get_task_list")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def task_list_record(task_list: TaskList) -> dict[str, Any]:
    """Link each task of `task_list` to it, and return what a backend stores for the list itself.

    That is the list's fields with `tasks` emptied and `task_ids` added: the tasks are stored as
    tasks (so `update` sees them), and the ids keep their order. `task_list_order` reads it back.
    """
    require(task_list, TaskList, "task_list")
    for task in task_list.tasks:
        task.task_list_id = task_list.id
    record = task_list.to_dict()
    record["tasks"] = []
    record["task_ids"] = [str(t.id) for t in task_list.tasks]
    return record


def task_list_order(record: Any) -> dict[UUID, int]:
    """Each task id of a stored task-list record (see `task_list_record`) -> its position.

    Raises `ValueError`, `TypeError` or `AttributeError` if the record is malformed; the backend
    turns that into a `CorruptStoreError` naming where it is stored.
    """
    return {UUID(t): i for i, t in enumerate(record.get("task_ids", []))}


async def fill_task_list(
    store: TaskStore,
    task_list: TaskList,
    task_list_id: UUID,
    order: dict[UUID, int],
    scope: Scope | str,
) -> TaskList:
    """`task_list` with its current tasks: those saved with it in their `order`, then newer ones."""
    tasks = await store.list_tasks(scope, task_list_id=task_list_id)
    tasks.sort(key=lambda t: (order.get(t.id, len(order)), t.created_at))
    task_list.tasks = tasks
    return task_list


def filter_tasks(
    tasks: Iterable[Task],
    conversation_id: UUID | str | None,
    state: TaskState | str | None,
    task_list_id: UUID | str | None,
) -> list[Task]:
    """Tasks matching every filter given, oldest first."""
    cid = optional_id(conversation_id, "conversation_id")
    lid = optional_id(task_list_id, "task_list_id")
    st = optional_enum(TaskState, state, "state")
    out = [
        t
        for t in tasks
        if (cid is None or t.conversation_id == cid)
        and (lid is None or t.task_list_id == lid)
        and (st is None or t.state is st)
    ]
    out.sort(key=lambda t: (t.created_at, str(t.id)))
    return out
