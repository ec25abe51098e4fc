"""The client side of distributed execution: submit runs to the queue, wait for their results,
follow their events, cancel them wherever they are, and handle the runs workers refused.

`AgentRunner.submit / wait / events / cancel` call these; they work on any runner whose backends
the workers share (in memory within one process, Redis across machines).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .._engine import results
from .._engine.inputs import parse_input
from .._engine.results import MAX_RUN_ID_LENGTH, result_key
from .._json import MAX_DEPTH, dumps_bounded
from ..agent import RunResult
from ..errors import InvalidInputError, UserError
from ..events.base import BlockingEventReader, Event
from ..queue.base import DeadLetter, QueuedRun
from ..state.base import check_key
from ._local import local_cancels, local_workers

if TYPE_CHECKING:
    from ..runner import AgentRunner

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "check_submission",
    "dead_letters",
    "events",
    "get_result",
    "request_cancel",
    "requeue_dead_letters",
    "submit",
    "wait",
]

DEFAULT_MAX_INPUT_BYTES = 1_000_000
"""Largest run input (its JSON) accepted by default: 1 MB."""


async def get_result(runner: AgentRunner, run_id: str) -> RunResult | None:
    """The recorded result of a run, or None if it has not finished (or its result expired)."""
    return await results.get_result(runner.state_store, str(run_id))


async def submit(
    runner: AgentRunner,
    agent_key: str,
    input_data: dict[str, Any] | list[dict[str, Any]] | str | None = None,
    *,
    run_id: str | uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    priority: int = 0,
    delay_seconds: float = 0.0,
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> str:
    """Queue a run of the agent registered as `agent_key` (on the workers) and return its id.

    The input is checked here, so a malformed or oversized input raises `InvalidInputError` at
    once instead of failing later on a worker. Submitting a `run_id` that is already queued,
    running or finished is harmless: nothing is queued again and the same id is returned.
    """
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise UserError(f"`priority` must be an integer; got {priority!r}.")
    run_id, raw_input = check_submission(agent_key, input_data, run_id, metadata, max_input_bytes)
    if await results.get_result(runner.state_store, run_id) is not None:
        return run_id  # finished already: submitting again changes nothing
    run = QueuedRun(run_id=run_id, agent_key=agent_key, input_data=raw_input, metadata=dict(metadata or {}),
                    priority=priority)
    await runner.queue.enqueue(run, delay_seconds=delay_seconds)
    return run_id


def check_submission(
    agent_key: str,
    input_data: Any,
    run_id: str | uuid.UUID | None,
    metadata: dict[str, Any] | None,
    max_input_bytes: int,
) -> tuple[str, dict[str, Any]]:
    """What every engine checks before starting a run: the agent key, the input (shape, depth,
    numbers, Unicode, at most `max_input_bytes` of JSON), the metadata and the run id (new when
    None). Returns (run_id, the normalized input); raises `InvalidInputError` / `UserError`."""
    if not isinstance(agent_key, str) or not agent_key:
        raise UserError(f"`agent_key` must be a non-empty string; got {agent_key!r}.")
    _, _, raw_input = parse_input(input_data)
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInputError(f"`metadata` must be a dict; got {type(metadata).__name__}.")
    # What a worker reads back must pass its checks: no deeper than MAX_DEPTH, finite numbers,
    # Unicode text (values that are not JSON count as their str(), as before).
    text = dumps_bounded(raw_input, what="The run's input", max_bytes=sys.maxsize, max_depth=MAX_DEPTH, default=str)
    size = len(text.encode("utf-8"))
    if size > max_input_bytes:
        raise InvalidInputError(
            f"The run's input is {size} bytes of JSON, over the limit of {max_input_bytes} "
            "(`max_input_bytes`). Store large documents elsewhere and pass a reference."
        )
    run_id = str(run_id) if run_id is not None else str(uuid.uuid4())
    check_key(run_id, "run_id")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise UserError(f"`run_id` is {len(run_id)} characters long, over the limit of {MAX_RUN_ID_LENGTH}.")
    return run_id, raw_input


async def wait(runner: AgentRunner, run_id: str, timeout: float | None = None) -> RunResult:
    """Wait until the run's result is recorded and return it.

    Raises `TimeoutError` if it is not within `timeout` seconds (None: wait forever). With the
    Redis event bus it wakes on the run's events; otherwise it polls the result (every 5 ms at
    first, then up to every 200 ms).
    """
    run_id = str(run_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    bus = runner.event_bus
    seq, terminal_seen, delay = 0, False, 0.005
    while True:
        result = await results.get_result(runner.state_store, run_id)
        if result is not None:
            return result
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(
                f"Run {run_id!r} did not finish within {timeout}s. It may still be queued (are "
                "workers running? `agent-runtime worker --app ...`) or still running; wait again "
                "or follow it with `agent-runtime events RUN_ID --follow`."
            )
        if isinstance(bus, BlockingEventReader) and not terminal_seen:
            block = bus.block_seconds if remaining is None else min(remaining, bus.block_seconds)
            try:
                # Bounded even while Redis is unreachable (the read itself retries forever).
                async with asyncio.timeout(None if remaining is None else remaining + 0.5):
                    new = await bus.read(run_id, seq, block_seconds=block)
            except TimeoutError:
                continue  # the deadline check above raises with the helpful message
            if new:
                seq = new[-1].seq
                terminal_seen = any(e.is_terminal for e in new)
        else:
            await asyncio.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, 0.2)


async def events(
    runner: AgentRunner, run_id: str, after_seq: int = 0, *, follow: bool = True
) -> AsyncIterator[Event]:
    """The run's events with `seq > after_seq`, in order; with `follow`, also those still to
    come, ending after the run's terminal event. Reconnect with the last `seq` you saw to get
    every later event exactly once."""
    if follow:
        async for event in runner.event_bus.subscribe(str(run_id), after_seq):
            yield event
    else:
        for event in await runner.event_bus.get_events(str(run_id), after_seq):
            yield event


async def request_cancel(runner: AgentRunner, run_id: str, reason: str = "cancelled") -> bool:
    """Cancel a run wherever it is: executing on another worker, or still queued.

    Returns False when the run has already finished (its result is recorded). Otherwise the
    request is delivered (Redis: stored and published, so the worker holding the run cancels it
    within a moment, and a worker that takes it later records it CANCELLED without running it).
    """
    run_id = str(run_id)
    if await results.get_result(runner.state_store, run_id) is not None:
        return False
    queue = runner.queue
    send = getattr(queue, "request_cancel", None)
    if send is not None:
        await send(run_id, reason)
        return True
    for worker in list(local_workers):
        if worker.queue is queue and worker.runner.is_running(run_id):
            return await worker.runner.cancel(run_id, reason=reason)
    try:
        local_cancels.setdefault(queue, {})[run_id] = reason
    except TypeError:  # a queue that cannot be weakly referenced: no local cancel registry
        return False
    return True


def dead_letter_queue(runner: AgentRunner) -> Any:
    """The runner's queue, if it keeps dead letters; else a `UserError` saying which do."""
    queue = runner.queue
    if not hasattr(queue, "list_dead_letters"):
        raise UserError(
            f"The queue {queue!r} keeps no dead letters (refused runs are recorded FAILED and "
            "acked); RedisQueue and InMemoryQueue keep them."
        )
    return queue


async def dead_letters(runner: AgentRunner, limit: int = 100) -> list[DeadLetter]:
    """The runs workers refused (most recent first, at most `limit`), with the reason and a short,
    redacted preview of each payload."""
    return list(await dead_letter_queue(runner).list_dead_letters(limit))


async def requeue_dead_letters(runner: AgentRunner, run_ids: list[str] | None = None) -> list[str]:
    """Give dead letters another chance (all when `run_ids` is None), e.g. after deploying the
    agent they named: their FAILED results are forgotten (so workers execute them instead of
    acking them as finished) and they go back in the queue with their deliveries counted from
    zero. Returns the run ids requeued; a payload that still cannot be read comes back."""
    queue = dead_letter_queue(runner)
    if run_ids is None:
        run_ids = [d.run_id for d in await queue.list_dead_letters(max(1, await queue.count_dead_letters()))]
    for run_id in run_ids:
        try:
            key = check_key(result_key(run_id), "run_id")
        except UserError:
            continue  # such a run never got a result
        await runner.state_store.delete(key)
    return list(await queue.requeue_dead_letters(run_ids))
