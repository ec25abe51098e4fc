"""The runs a server started: who owns each, where it executes, and what state it is in.

Runs go through the server's `AgentRunner`: executed in this process in a background task (they
outlive the request and any client that follows them), or submitted to the queue workers. Which
key started a run is kept in memory and in the runner's state store, so a replica sharing the
store knows it too; any other key is told the run does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import AgentRunner, AgentRuntime, RunResult, get_runtime, list_runtimes
from .._json import dumps_bounded
from .._redaction import get_logger
from ..errors import InvalidInputError, UserError
from ..events import TERMINAL_EVENT_TYPES, Event, EventType
from ..runner import MAX_RESUME_BYTES
from ._http import Problem

__all__ = ["Execution", "RunManager", "RunRecord", "check_input"]

logger = get_logger("agent_runtime_core.serve")

Execution = Literal["local", "queue"]

_OWNER_KEY = "serve-run:"
_STATUS_CONCURRENCY = 32  # bus calls in flight for one `GET /runs`; a Redis bus opens up to 100 connections
_STATUS_BY_TERMINAL = {
    EventType.RUN_SUCCEEDED: "succeeded",
    EventType.RUN_FAILED: "failed",
    EventType.RUN_CANCELLED: "cancelled",
    EventType.RUN_INTERRUPTED: "interrupted",
}


@dataclass
class RunRecord:
    """What the server knows of a run beyond its events."""

    run_id: str
    owner: str
    agent_key: str
    created_at: float = field(default_factory=time.time)
    thread_id: str | None = None
    """The AG-UI thread, for runs started through `/agui`."""
    source_run_id: str | None = None
    """For an AG-UI run that answers an interrupt: the run it continues (whose events it shows)."""
    after: int = 0
    """The events of `source_run_id` it shows are those after this seq."""

    @property
    def events_run_id(self) -> str:
        """The run whose events this record's stream shows."""
        return self.source_run_id or self.run_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "owner": self.owner,
            "agent_key": self.agent_key,
            "created_at": self.created_at,
            "thread_id": self.thread_id,
            "source_run_id": self.source_run_id,
            "after": self.after,
        }


def not_found(run_id: str) -> Problem:
    return Problem(404, "run_not_found", f"No run {run_id!r} visible to this API key; start one with POST /runs.")


def check_input(value: Any) -> dict[str, Any]:
    """A run's input as the API takes it: a string (one user message) or `{"messages": [...]}`
    with OpenAI-style message objects. Anything else is a 422 naming what to fix."""
    if value is None:
        return {"messages": []}
    if isinstance(value, str):
        return {"messages": [{"role": "user", "content": value}]}
    if not isinstance(value, dict):
        raise Problem(422, "invalid_input", '`input` must be an object like {"messages": [{"role": "user", "content": "..."}]} or a string.')
    messages = value.get("messages", [])
    if not isinstance(messages, list):
        raise Problem(422, "invalid_input", "`input.messages` must be a list of message objects.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not message["role"]:
            raise Problem(422, "invalid_input", f"`input.messages[{i}]` must be an object with a string `role`, e.g. 'user'.")
    return value


class RunManager:
    """Starts, finds, cancels and resumes the runs of one server."""

    def __init__(
        self,
        runner: AgentRunner,
        execution: Execution,
        agents: Mapping[str, AgentRuntime | None] | None,
        *,
        max_listed: int = 1000,
    ) -> None:
        self.runner = runner
        self.execution = execution
        self._agents = agents
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._max_listed = max_listed
        self._tasks: dict[asyncio.Task[Any], str] = {}
        """The tasks executing runs here, with their run ids (never capped, unlike `_records`)."""
        self._resuming: set[str] = set()

    # -- agents ------------------------------------------------------------------------------

    def agent_keys(self) -> list[str]:
        """The agents runs may name: those given to `create_app`, else the registered ones."""
        return sorted(self._agents) if self._agents is not None else list_runtimes()

    def _agent(self, key: str) -> AgentRuntime | str:
        if self._agents is not None:
            agent = self._agents.get(key)
            return agent if agent is not None else key
        return key

    def check_agent(self, key: Any) -> str:
        """`key` if it names a known agent; else 422 (not a string) or 404 (unknown)."""
        if not isinstance(key, str) or not key:
            raise Problem(422, "invalid_body", "`agent_key` must be a non-empty string; GET /agents lists them.")
        known = self.agent_keys()
        if key not in known:
            listing = ", ".join(map(repr, known)) or "none"
            raise Problem(404, "agent_not_found", f"No agent {key!r} on this server. Agents: {listing}.")
        return key

    # -- records ------------------------------------------------------------------------------

    async def _remember(self, record: RunRecord) -> None:
        self._records[record.run_id] = record
        while len(self._records) > self._max_listed:
            self._records.popitem(last=False)
        try:
            await self.runner.state_store.set(_OWNER_KEY + record.run_id, record.to_dict())
        except Exception:  # the in-memory record still serves this process
            logger.exception("Could not store the owner of run %s.", record.run_id)

    async def find(self, owner: str, run_id: str) -> RunRecord:
        """The run `run_id` if `owner` started it; 404 otherwise (whether it exists or not)."""
        record = await self.lookup(owner, run_id)
        if record is None or record.source_run_id is not None:
            raise not_found(run_id)
        return record

    async def lookup(self, owner: str, run_id: str) -> RunRecord | None:
        """The record `run_id` if `owner` made it, else None."""
        record = self._records.get(run_id)
        if record is None:
            try:
                data = await self.runner.state_store.get(_OWNER_KEY + run_id)
            except UserError:  # not a usable key: no such run
                data = None
            if isinstance(data, dict) and isinstance(data.get("owner"), str):
                record = RunRecord(
                    run_id=run_id,
                    owner=data["owner"],
                    agent_key=str(data.get("agent_key", "")),
                    created_at=float(data.get("created_at") or 0.0),
                    thread_id=data.get("thread_id"),
                    source_run_id=data.get("source_run_id"),
                    after=int(data.get("after") or 0),
                )
        if record is None or record.owner != owner:
            return None
        return record

    async def alias(self, owner: str, run_id: str, source: RunRecord, after: int, thread_id: str | None) -> RunRecord:
        """A record that shows `source`'s events after `after` under another id (an AG-UI run
        that continues an interrupted one)."""
        record = RunRecord(run_id=run_id, owner=owner, agent_key=source.agent_key, thread_id=thread_id,
                           source_run_id=source.run_id, after=after)
        await self._remember(record)
        return record

    def listed(self, owner: str, limit: int = 100) -> list[RunRecord]:
        """`owner`'s runs known to this process, newest first."""
        mine = [r for r in reversed(self._records.values()) if r.owner == owner and r.source_run_id is None]
        return mine[:limit]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(
        self,
        owner: str,
        agent_key: str,
        input_data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> RunRecord:
        """Start a run of `agent_key` owned by `owner` (in a background task, or on the queue)."""
        record = RunRecord(run_id=run_id or str(uuid.uuid4()), owner=owner, agent_key=agent_key, thread_id=thread_id)
        if self.execution == "queue":
            # Remembered once queued: a refused submit must leave no run listed as "queued".
            try:
                await self.runner.submit(agent_key, input_data, run_id=record.run_id, metadata=metadata)
            except InvalidInputError as e:
                raise Problem(422, "invalid_input", str(e)) from None
            await self._remember(record)
        else:
            await self._remember(record)
            self._spawn(
                self.runner.execute(self._agent(agent_key), record.run_id, input_data, metadata=metadata),
                record.run_id,
            )
            # Let the run reserve its id on the runner, so a cancel sent right after this
            # response reaches it.
            await asyncio.sleep(0)
        return record

    def _spawn(self, coro: Any, run_id: str) -> None:
        async def guarded() -> RunResult | None:
            try:
                result: RunResult = await coro
                return result
            except Exception:
                logger.exception("Run %s could not be executed.", run_id)
                return None
            finally:
                self._resuming.discard(run_id)

        task = asyncio.create_task(guarded(), name=f"serve-run:{run_id}")
        self._tasks[task] = run_id
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)

    async def last_event(self, run_id: str) -> Event | None:
        """The run's latest event, if it has any."""
        bus = self.runner.event_bus
        last = await bus.last_seq(run_id)
        if not last:
            return None
        events = await bus.get_events(run_id, last - 1)
        return events[-1] if events else None

    async def status(self, record: RunRecord) -> dict[str, Any]:
        """The run as `GET /runs/{id}` shows it: status, and its result or error once ended."""
        event = await self.last_event(record.run_id)
        body: dict[str, Any] = {
            "run_id": record.run_id,
            "agent_key": record.agent_key,
            "created_at": record.created_at,
            "last_seq": event.seq if event else 0,
        }
        if record.thread_id is not None:
            body["thread_id"] = record.thread_id
        if event is None:
            body["status"] = "queued" if record.run_id not in self._resuming else "running"
            return body
        if event.type not in TERMINAL_EVENT_TYPES or record.run_id in self._resuming:
            body["status"] = "running"
            return body
        body["status"] = _STATUS_BY_TERMINAL[event.type]
        body["ended_at"] = event.timestamp
        p = event.payload
        if event.type is EventType.RUN_SUCCEEDED:
            body["result"] = {"final_output": p.get("final_output")}
        elif event.type is EventType.RUN_FAILED:
            body["error"] = p.get("error")
        elif event.type is EventType.RUN_CANCELLED:
            body["error"] = {"type": "RunCancelledError", "message": p.get("reason", "cancelled")}
        else:
            body["interrupt"] = p.get("interrupt")
        return body

    async def statuses(self, records: list[RunRecord]) -> list[dict[str, Any]]:
        """`status` of each record, in order, asked of the event bus concurrently (a few at a
        time): `GET /runs` lists up to 1,000 runs, and the viewer polls it."""
        limit = asyncio.Semaphore(_STATUS_CONCURRENCY)

        async def one(record: RunRecord) -> dict[str, Any]:
            async with limit:
                return await self.status(record)

        return list(await asyncio.gather(*(one(r) for r in records)))

    async def cancel(self, record: RunRecord, reason: str = "cancelled through the API") -> bool:
        """Ask the run to stop, wherever it executes; False when it had already ended."""
        event = await self.last_event(record.run_id)
        if event is not None and event.is_terminal and record.run_id not in self._resuming:
            return False
        return await self.runner.cancel(record.run_id, reason=reason)

    async def resume(self, record: RunRecord, answer: Any) -> None:
        """Continue an interrupted run with the human's `answer` (in this process: the agent
        must be registered here). 409 when the run is not waiting for one."""
        event = await self.last_event(record.run_id)
        if event is None or event.type is not EventType.RUN_INTERRUPTED or record.run_id in self._resuming:
            state = "resuming" if record.run_id in self._resuming else (event.type.value if event else "no events yet")
            raise Problem(409, "not_interrupted", f"Run {record.run_id!r} is not waiting for an answer (its state: {state}).")
        try:
            dumps_bounded(answer, what="The answer", max_bytes=MAX_RESUME_BYTES, default=str)
        except InvalidInputError as e:
            raise Problem(422, "invalid_answer", str(e)) from None
        agent: AgentRuntime | str = self._agent(record.agent_key)
        if isinstance(agent, str):
            try:
                agent = get_runtime(agent)
            except UserError as e:
                raise Problem(409, "agent_not_here", f"Cannot resume here: {e}") from None
        self._resuming.add(record.run_id)
        self._spawn(self.runner.resume(record.run_id, answer, agent=agent), record.run_id)
        await asyncio.sleep(0)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """On shutdown: ask the runs still executing here to stop, and wait for them a while."""
        running = {task: run_id for task, run_id in self._tasks.items() if not task.done()}
        if not running:
            return
        for run_id in dict.fromkeys(running.values()):
            if self.runner.is_running(run_id):
                with contextlib.suppress(Exception):
                    await self.runner.cancel(run_id, reason="the server is shutting down")
        _, pending = await asyncio.wait(running, timeout=grace_seconds)
        for task in pending:
            task.cancel()
