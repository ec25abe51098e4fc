"""Distributed execution: submit runs to a queue, serve them from workers, wait for their results.

The pieces, whatever the backends (in-memory for one process, Redis for many machines):

- `submit()` validates a run's input and puts it on the runner's `RunQueue`; submitting a run id
  that is queued, running or finished changes nothing.
- `Worker.serve()` takes runs from the queue (at most `concurrency` at once), executes each with
  `AgentRunner.execute`, records its result under its run id in the runner's `StateStore`, then
  acknowledges it. A heartbeat renews the leases of the runs it holds; a run whose worker died goes
  back to the queue when its lease expires and resumes from its last checkpoint elsewhere.
- `wait()` returns a run's recorded result; `events()` reads or follows its event stream.
- `request_cancel()` reaches a run on any worker (the runner's `cancel()` calls it for runs it
  does not hold itself).

Delivery is at least once; completion is once per run id: a worker records the result before it
acks, and a delivered run whose result is already recorded is acked without executing again.

One run never stops the worker. A run delivered more than `max_deliveries` times (its workers keep
dying), a payload that cannot be read (not UTF-8, not JSON, too large, too deep, not a run), an
unknown agent key, an input over `max_input_bytes`, or a run whose handling raised something
unexpected is *refused*: recorded FAILED with the reason (when its run id can hold a result),
moved to the queue's dead letters (`agent-runtime dead-letters list | requeue | delete`), and never
delivered again unless requeued. Anything unexpected in the loop that takes runs is logged and the
loop goes on, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import sys
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _secrets
from ._json import MAX_DEPTH, dumps_bounded
from .agent import RunResult, RunStatus
from .context import RunContext
from .errors import (
    AgentRuntimeError,
    BackendError,
    CorruptDataError,
    ErrorInfo,
    InvalidInputError,
    NonRetriableError,
    UserError,
)
from .events.base import Event, EventType
from .queue.base import DeadLetter, Lease, QueuedRun, RunQueue
from .registry import RuntimeNotFoundError, get_runtime
from .state.base import MAX_KEY_LENGTH, check_key

if TYPE_CHECKING:
    from .runner import AgentRunner

__all__ = [
    "CLI_COMMANDS",
    "DEFAULT_MAX_INPUT_BYTES",
    "MAX_RUN_ID_LENGTH",
    "RESULT_KEY_PREFIX",
    "PoisonRunError",
    "Worker",
    "WorkerConfig",
    "add_cli_commands",
    "dead_letters",
    "events",
    "request_cancel",
    "requeue_dead_letters",
    "result_from_dict",
    "result_key",
    "result_to_dict",
    "run_cli_command",
    "submit",
    "wait",
]

logger = logging.getLogger("agent_runtime_core.worker")

RESULT_KEY_PREFIX = "run-result:"
"""Results are stored in the runner's state store under `run-result:<run_id>`."""

DEFAULT_MAX_INPUT_BYTES = 1_000_000
"""Largest run input (its JSON) accepted by default: 1 MB."""

MAX_RUN_ID_LENGTH = MAX_KEY_LENGTH - len(RESULT_KEY_PREFIX)
"""Longest run id `submit` accepts: its result key must fit the state stores' key limit."""


class PoisonRunError(NonRetriableError):
    """A run was delivered more than `max_deliveries` times without finishing: each worker that
    took it died or lost it. It is recorded FAILED instead of being tried forever."""


@dataclass
class WorkerConfig:
    """How a worker takes and treats runs."""

    concurrency: int = 10
    """Runs executed at once by this worker process."""
    max_deliveries: int = 5
    """A run delivered more often than this (its workers kept dying) is recorded FAILED."""
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    """Largest accepted run input, in bytes of JSON; larger runs are recorded FAILED."""
    heartbeat_seconds: float | None = None
    """How often leases are renewed and cancellations checked; default a third of the queue's
    `lease_seconds` (10 s when the queue has none)."""
    shutdown_grace_seconds: float = 30.0
    """On SIGTERM, how long runs in progress may take to finish before they are released to the
    queue (another worker resumes them from their checkpoint)."""
    result_ttl_seconds: float | None = 7 * 24 * 3600
    """How long results are kept (None: forever)."""
    poll_seconds: float = 1.0
    """Longest wait for new runs before the worker checks whether it should stop."""
    backoff_max_seconds: float = 5.0
    """Ceiling of the wait between attempts to reach an unavailable backend."""
    worker_id: str | None = None
    """Name of this worker in leases and logs; default `<hostname>:<pid>:<random>`."""

    def __post_init__(self) -> None:
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise UserError(f"`concurrency` must be an integer >= 1; got {self.concurrency!r}.")
        if not isinstance(self.max_deliveries, int) or self.max_deliveries < 1:
            raise UserError(f"`max_deliveries` must be an integer >= 1; got {self.max_deliveries!r}.")
        if self.max_input_bytes < 1:
            raise UserError(f"`max_input_bytes` must be >= 1; got {self.max_input_bytes}.")
        if self.heartbeat_seconds is not None and self.heartbeat_seconds <= 0:
            raise UserError(f"`heartbeat_seconds` must be > 0 or None; got {self.heartbeat_seconds}.")
        for name in ("shutdown_grace_seconds", "poll_seconds", "backoff_max_seconds"):
            if getattr(self, name) < 0:
                raise UserError(f"`{name}` must be >= 0; got {getattr(self, name)}.")


# -- results -------------------------------------------------------------------------------


def result_key(run_id: str) -> str:
    """The state-store key of a run's result."""
    return RESULT_KEY_PREFIX + str(run_id)


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """A JSON-ready dict of a result; `result_from_dict` reads it back."""
    return {
        "run_id": result.run_id,
        "status": str(result.status) if result.status is not None else None,
        "final_output": result.final_output,
        "final_messages": result.final_messages,
        "error": result.error.to_dict() if result.error else None,
        "attempts": result.attempts,
        "interrupt": result.interrupt,
        "finished_at": time.time(),
    }


def result_from_dict(data: dict[str, Any]) -> RunResult:
    """Read back what `result_to_dict` wrote."""
    status = data.get("status")
    return RunResult(
        final_output=dict(data.get("final_output") or {}),
        final_messages=data.get("final_messages"),
        error=ErrorInfo.from_dict(data["error"]) if data.get("error") else None,
        run_id=data.get("run_id"),
        status=RunStatus(status) if status else None,
        attempts=int(data.get("attempts") or 0),
        interrupt=data.get("interrupt"),
    )


async def get_result(runner: AgentRunner, run_id: str) -> RunResult | None:
    """The recorded result of a run, or None if it has not finished (or its result expired)."""
    data = await runner.state_store.get(result_key(run_id))
    return None if data is None else result_from_dict(data)


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    except (TypeError, ValueError, RecursionError):
        return 0


def _transient(error: BaseException) -> bool:
    """A backend outage (worth delivering the run again later), not something in the run itself."""
    return isinstance(error, BackendError | OSError) and not isinstance(error, CorruptDataError)


def _show(run_id: str) -> str:
    """A run id fit for a log line: ASCII, at most 80 characters (ids may be hostile)."""
    text = ascii(run_id)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: BaseException) -> str:
    """An exception with its traceback, secrets masked, for the log."""
    import traceback

    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return _secrets.redact(text)[-8000:]


# -- client side ---------------------------------------------------------------------------


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
    from .runner import parse_input

    if not isinstance(agent_key, str) or not agent_key:
        raise UserError(f"`agent_key` must be a non-empty string; got {agent_key!r}.")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise UserError(f"`priority` must be an integer; got {priority!r}.")
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
    if await get_result(runner, run_id) is not None:
        return run_id  # finished already: submitting again changes nothing
    run = QueuedRun(run_id=run_id, agent_key=agent_key, input_data=raw_input, metadata=dict(metadata or {}),
                    priority=priority)
    await runner.queue.enqueue(run, delay_seconds=delay_seconds)
    return run_id


async def wait(runner: AgentRunner, run_id: str, timeout: float | None = None) -> RunResult:
    """Wait until the run's result is recorded and return it.

    Raises `TimeoutError` if it is not within `timeout` seconds (None: wait forever). With the
    Redis event bus it wakes on the run's events; otherwise it polls the result (every 5 ms at
    first, then up to every 200 ms).
    """
    from .events.redis import RedisEventBus

    run_id = str(run_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    bus = runner.event_bus
    seq, terminal_seen, delay = 0, False, 0.005
    while True:
        result = await get_result(runner, run_id)
        if result is not None:
            return result
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(
                f"Run {run_id!r} did not finish within {timeout}s. It may still be queued (are "
                "workers running? `agent-runtime worker --app ...`) or still running; wait again "
                "or follow it with `agent-runtime events RUN_ID --follow`."
            )
        if isinstance(bus, RedisEventBus) and not terminal_seen:
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


# In one process without a shared queue backend, cancellation goes through these.
_local_workers: weakref.WeakSet[Worker] = weakref.WeakSet()
_local_cancels: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


async def request_cancel(runner: AgentRunner, run_id: str, reason: str = "cancelled") -> bool:
    """Cancel a run wherever it is: executing on another worker, or still queued.

    Returns False when the run has already finished (its result is recorded). Otherwise the
    request is delivered (Redis: stored and published, so the worker holding the run cancels it
    within a moment, and a worker that takes it later records it CANCELLED without running it).
    """
    run_id = str(run_id)
    if await get_result(runner, run_id) is not None:
        return False
    queue = runner.queue
    send = getattr(queue, "request_cancel", None)
    if send is not None:
        await send(run_id, reason)
        return True
    for worker in list(_local_workers):
        if worker.queue is queue and worker.runner.is_running(run_id):
            return await worker.runner.cancel(run_id, reason=reason)
    try:
        _local_cancels.setdefault(queue, {})[run_id] = reason
    except TypeError:  # a queue that cannot be weakly referenced: no local cancel registry
        return False
    return True


def _dead_letter_queue(runner: AgentRunner) -> Any:
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
    return list(await _dead_letter_queue(runner).list_dead_letters(limit))


async def requeue_dead_letters(runner: AgentRunner, run_ids: list[str] | None = None) -> list[str]:
    """Give dead letters another chance (all when `run_ids` is None), e.g. after deploying the
    agent they named: their FAILED results are forgotten (so workers execute them instead of
    acking them as finished) and they go back in the queue with their deliveries counted from
    zero. Returns the run ids requeued; a payload that still cannot be read comes back."""
    queue = _dead_letter_queue(runner)
    if run_ids is None:
        run_ids = [d.run_id for d in await queue.list_dead_letters(max(1, await queue.count_dead_letters()))]
    for run_id in run_ids:
        try:
            key = check_key(result_key(run_id), "run_id")
        except UserError:
            continue  # such a run never got a result
        await runner.state_store.delete(key)
    return list(await queue.requeue_dead_letters(run_ids))


# -- the worker ----------------------------------------------------------------------------


def _same_redis(queue: Any, store: Any) -> Any:
    """The store, when it is a `RedisStateStore` on the same Redis as a `RedisQueue`: then a
    worker learns whether a run is finished with its dequeue, and records a result and acks in
    one round trip. None otherwise."""
    from .queue.redis import RedisQueue
    from .state.redis import RedisStateStore

    if isinstance(queue, RedisQueue) and isinstance(store, RedisStateStore) and queue.url == store.url:
        return store
    return None



@dataclass(eq=False)
class _Held:
    lease: Lease
    task: asyncio.Task[None] | None = None
    abandoned: bool = False
    started: float = field(default_factory=time.monotonic)


class Worker:
    """Serves runs from a queue with an `AgentRunner`: bounded concurrency, leases renewed by a
    heartbeat, cancellation from anywhere, graceful shutdown.

    Usually started with `await runner.serve(concurrency=N)` or `agent-runtime worker --app
    MODULE`. Agents are looked up by key in this process's registry, so import the module that
    registers them first.
    """

    def __init__(self, runner: AgentRunner, queue: RunQueue | None = None, config: WorkerConfig | None = None) -> None:
        self.runner = runner
        self.queue: RunQueue = queue if queue is not None else runner.queue
        self.config = config or WorkerConfig()
        self.worker_id = self.config.worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._held: dict[str, _Held] = {}
        self._stop: asyncio.Event | None = None
        self._force_stop = False
        self._slot_free: asyncio.Event | None = None
        self._same_redis = _same_redis(self.queue, runner.state_store)
        self.completed = 0
        """Runs this worker finished (recorded and acked) since it started."""
        self.refused = 0
        """Runs this worker refused without executing them (recorded FAILED and dead-lettered)."""

    def __repr__(self) -> str:
        return (
            f"Worker(id={self.worker_id!r}, queue={self.queue!r}, concurrency={self.config.concurrency}, "
            f"running={len(self._held)})"
        )

    @property
    def heartbeat_seconds(self) -> float:
        if self.config.heartbeat_seconds is not None:
            return self.config.heartbeat_seconds
        lease = getattr(self.queue, "lease_seconds", None)
        return float(lease) / 3 if lease else 10.0

    def stop(self, *, now: bool = False) -> None:
        """Stop taking runs. Runs in progress get `shutdown_grace_seconds` to finish (none with
        `now=True`); the rest are released to the queue for another worker."""
        self._force_stop = self._force_stop or now
        if self._stop is not None:
            self._stop.set()
            if now and self._slot_free is not None:
                self._slot_free.set()

    async def serve(self, *, handle_signals: bool = True, max_runs: int | None = None) -> None:
        """Take and execute runs until `stop()` is called (or SIGTERM/SIGINT arrives, when
        `handle_signals` and this is the main thread), or until `max_runs` runs have finished."""
        self._stop = asyncio.Event()
        self._slot_free = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
                except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
                    pass
        _local_workers.add(self)
        background = [asyncio.create_task(self._heartbeat(), name=f"heartbeat:{self.worker_id}")]
        if hasattr(self.queue, "watch_cancels"):
            background.append(asyncio.create_task(self._watch_cancels(), name=f"cancels:{self.worker_id}"))
        logger.info("Worker %s serving %r with concurrency %d.", self.worker_id, self.queue, self.config.concurrency)
        try:
            await self._take_loop(max_runs)
        finally:
            try:
                await self._shutdown()
            finally:  # even if a second cancel interrupts the shutdown, stop everything below
                self._cleanup_background(background, installed, loop)
                await asyncio.gather(*background, return_exceptions=True)
            await self._flush_traces()
            logger.info("Worker %s stopped after %d runs.", self.worker_id, self.completed)

    def _cleanup_background(
        self, background: list[asyncio.Task[None]], installed: list[signal.Signals], loop: asyncio.AbstractEventLoop
    ) -> None:
        for task in background:
            task.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)
        _local_workers.discard(self)
        for held in list(self._held.values()):  # runs a second cancel left behind
            if held.task is not None and not held.task.done():
                held.task.cancel()

    async def _flush_traces(self) -> None:
        if self.runner.trace_sink is not None:
            try:  # the last batch of traces (e.g. to Langfuse) goes out before the process ends
                await self.runner.trace_sink.flush()
            except Exception:
                logger.exception("Flushing the trace sink failed at shutdown.")

    def _on_signal(self, sig: int) -> None:
        assert self._stop is not None
        if self._stop.is_set():
            logger.warning("Second %s: releasing runs in progress now.", signal.Signals(sig).name)
            self.stop(now=True)
        else:
            logger.warning(
                "%s: finishing %d runs in progress (up to %.0fs), taking no new ones.",
                signal.Signals(sig).name, len(self._held), self.config.shutdown_grace_seconds,
            )
            self.stop()

    async def _take_loop(self, max_runs: int | None) -> None:
        assert self._stop is not None and self._slot_free is not None
        taken = 0
        backoff = 0.05
        many = getattr(self.queue, "dequeue_many", None)
        if many is not None and self._same_redis is not None:
            many = functools.partial(many, result_key_prefix=self._same_redis.value_key(RESULT_KEY_PREFIX))
        while not self._stop.is_set():
            if max_runs is not None and taken >= max_runs:
                if not self._held:
                    return
                await self._wait_slot()
                continue
            free = self.config.concurrency - len(self._held)
            if max_runs is not None:
                free = min(free, max_runs - taken)
            if free <= 0:
                await self._wait_slot()
                continue
            try:
                if many is not None:
                    leases = list(await many(self.worker_id, free, timeout=self.config.poll_seconds))
                else:
                    lease = await self.queue.dequeue(self.worker_id, timeout=self.config.poll_seconds)
                    leases = [lease] if lease is not None else []
            except (BackendError, OSError) as e:
                logger.warning("Could not take runs (%s); retrying in %.2fs.", _secrets.redact(str(e)), backoff)
                await self._sleep_unless_stopped(backoff)
                backoff = min(backoff * 2, self.config.backoff_max_seconds)
                continue
            except Exception as e:  # a bug or a reply nobody foresaw: never the end of the worker
                logger.error(
                    "Worker %s: unexpected error while taking runs from %r; retrying in %.2fs.\n%s",
                    self.worker_id, self.queue, backoff, _describe(e),
                )
                await self._sleep_unless_stopped(backoff)
                backoff = min(backoff * 2, self.config.backoff_max_seconds)
                continue
            backoff = 0.05
            for lease in leases:
                if self._stop.is_set():
                    await self._release(lease)
                    continue
                mine = self._held.get(lease.run.run_id)
                if mine is not None:
                    # Our own lease expired (a stalled heartbeat) and the run came back to us while
                    # still executing here: keep running it under the new lease. The lease object
                    # is updated in place: the run's task acks and releases through it.
                    mine.lease.token, mine.lease.expires_at = lease.token, lease.expires_at
                    mine.lease.run.deliveries = lease.run.deliveries
                    continue
                taken += 1
                held = self._held[lease.run.run_id] = _Held(lease)
                held.task = asyncio.create_task(self._handle(held), name=f"run:{lease.run.run_id}")

    async def _wait_slot(self) -> None:
        assert self._stop is not None and self._slot_free is not None
        self._slot_free.clear()
        waiters = [asyncio.ensure_future(self._slot_free.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def _shutdown(self) -> None:
        tasks = [h.task for h in self._held.values() if h.task is not None]
        if tasks and not self._force_stop:
            grace = self.config.shutdown_grace_seconds
            logger.info("Waiting up to %.1fs for %d runs in progress.", grace, len(tasks))
            assert self._slot_free is not None
            deadline = time.monotonic() + grace
            while self._held and not self._force_stop and time.monotonic() < deadline:
                self._slot_free.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        await self._slot_free.wait()
        tasks = [h.task for h in self._held.values() if h.task is not None and not h.task.done()]
        if tasks:
            logger.warning("Releasing %d unfinished runs to the queue.", len(tasks))
            for task in tasks:
                task.cancel(msg="worker shutting down")
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one run ----------------------------------------------------------------------------

    async def _handle(self, held: _Held) -> None:
        lease = held.lease
        run_id = lease.run.run_id
        try:
            await self._process(lease)
            self.completed += 1
        except asyncio.CancelledError:
            if held.abandoned:
                logger.warning("Stopped run %s here: its lease was lost (another worker may hold it).", run_id)
                return
            await asyncio.shield(self._release(lease))
            raise
        except Exception as e:
            # Never let one run stop the worker. A backend that is down: the lease will expire and
            # another delivery finishes the job (at most `max_deliveries` times). Anything else
            # comes from the run itself and would happen again: refuse the run now.
            if _transient(e) and lease.run.deliveries <= self.config.max_deliveries:
                logger.warning(
                    "Run %s could not be finished (%s); it will be delivered again.",
                    _show(run_id), _secrets.redact(str(e)) or type(e).__name__,
                )
            else:
                logger.error("Run %s failed in the worker; refusing it.\n%s", _show(run_id), _describe(e))
                message = _secrets.redact(str(e))[:2000] or "(no message)"
                try:
                    await self._refuse(lease, ErrorInfo(type=type(e).__name__, message=message, retriable=False))
                except Exception as again:
                    logger.error(
                        "Run %s could not be refused either (%s); it returns when its lease expires.",
                        _show(run_id), _secrets.redact(str(again)) or type(again).__name__,
                    )
        finally:
            self._held.pop(run_id, None)
            if self._slot_free is not None:
                self._slot_free.set()

    async def _release(self, lease: Lease) -> None:
        release = getattr(self.queue, "release", None)
        try:
            if release is not None:
                await release(lease)
            else:
                await self.queue.nack(lease)
        except Exception:
            logger.exception("Could not release run %s; it returns when its lease expires.", lease.run.run_id)

    async def _process(self, lease: Lease) -> None:
        run = lease.run
        size = getattr(lease, "payload_bytes", 0)
        if size > self.config.max_input_bytes:  # checked first: known without reading the payload
            await self._refuse(lease, self._too_big(run, size))
            return
        if getattr(lease, "invalid", None):
            await self._refuse(lease, ErrorInfo.from_exception(InvalidInputError(str(lease.invalid))))
            return
        try:  # checked before executing: a run whose result could not be stored is not run
            check_key(result_key(run.run_id), "result key")
        except UserError as e:
            await self._refuse(lease, ErrorInfo.from_exception(InvalidInputError(f"The run id cannot hold a result: {e}")))
            return
        if self._same_redis is not None:
            finished = bool(getattr(lease, "finished", False))  # learnt with the dequeue
        else:
            finished = await get_result(self.runner, run.run_id) is not None
        if finished:
            logger.info("Run %s was delivered again after it finished; acking it.", run.run_id)
            await self.queue.ack(lease)
            return
        reason = getattr(lease, "cancel_reason", None) or self._pop_local_cancel(run.run_id)
        if reason:
            error = ErrorInfo(type="RunCancelledError", message=reason, retriable=False)
            await self._finish(lease, RunStatus.CANCELLED, error)
            return
        if run.deliveries > self.config.max_deliveries:
            error = ErrorInfo.from_exception(
                PoisonRunError(
                    f"Run {run.run_id!r} was delivered {run.deliveries} times without finishing "
                    f"(max_deliveries={self.config.max_deliveries}): each worker that took it died or "
                    "lost its lease. Look for what kills workers running this agent (memory, crashes).",
                    run_id=run.run_id,
                )
            )
            error.details["deliveries"] = run.deliveries
            await self._refuse(lease, error)
            return
        if not size:
            size = _json_size(run.input_data)
            if size > self.config.max_input_bytes:
                await self._refuse(lease, self._too_big(run, size))
                return
        try:
            agent = get_runtime(run.agent_key)
        except RuntimeNotFoundError as e:
            await self._refuse(lease, ErrorInfo.from_exception(InvalidInputError(str(e), run_id=run.run_id)))
            return
        result = await self.runner.execute(agent, run.run_id, run.input_data, metadata=run.metadata)
        await self._record_and_ack(lease, result)

    def _too_big(self, run: QueuedRun, size: int) -> ErrorInfo:
        return ErrorInfo.from_exception(
            InvalidInputError(
                f"The run's input is {size} bytes, over this worker's limit of "
                f"{self.config.max_input_bytes} (`max_input_bytes`).",
                run_id=run.run_id,
            )
        )

    async def _record_and_ack(self, lease: Lease, result: RunResult) -> None:
        """Record the result under the run id, then ack: a run redelivered after a crash between
        the two is acked without executing again."""
        key = result_key(lease.run.run_id)
        data = result_to_dict(result)
        ttl = self.config.result_ttl_seconds
        fast = self._same_redis
        if fast is not None:  # one round trip: result and ack in one script
            from .state.base import dumps

            acked = await self.queue.complete(  # type: ignore[attr-defined]
                lease, fast.value_key(key), dumps(data, "The run's result"), ttl_seconds=ttl,
                index_key=fast.index_key, index_member=key,
            )
        else:
            await self.runner.state_store.set(key, data, ttl_seconds=ttl)
            acked = await self.queue.ack(lease)
        if not acked:
            logger.warning("Run %s finished, but its lease had been lost; its result stands.", lease.run.run_id)

    async def _refuse(self, lease: Lease, error: ErrorInfo) -> None:
        """Refuse a run without executing it (unreadable, over a limit, unknown agent, poison):
        record it FAILED when its run id can hold a result, then move it to the dead letters (or
        ack it, on a queue without them). Never delivered again unless requeued."""
        run = lease.run
        self.refused += 1
        logger.warning("Run %s refused without executing: %s", _show(run.run_id), error.message)
        recordable = True
        try:
            check_key(result_key(run.run_id), "result key")
        except UserError as e:
            recordable = False
            logger.warning("Run %s gets no recorded result (%s); see the dead letters.", _show(run.run_id), e)
        if recordable:
            data = result_to_dict(RunResult(run_id=run.run_id, status=RunStatus.FAILED, error=error, attempts=0))
            ttl = self.config.result_ttl_seconds
            steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("publish its RUN_FAILED event", functools.partial(self._publish_outcome, run, RunStatus.FAILED, error)),
                ("record its FAILED result", functools.partial(self.runner.state_store.set, result_key(run.run_id), data, ttl_seconds=ttl)),
            ]
            for what, step in steps:
                try:
                    await step()
                except Exception as e:
                    if _transient(e):
                        raise  # a backend outage: the run comes back when its lease expires
                    # Something about this run itself: dead-letter it all the same.
                    logger.error("Run %s: could not %s; dead-lettering it anyway.\n%s", _show(run.run_id), what, _describe(e))
        dead_letter = getattr(self.queue, "dead_letter", None)
        if dead_letter is not None:
            reason = f"{error.type}: {error.message}"
            settled = await dead_letter(lease, reason[:4000])
        else:
            settled = await self.queue.ack(lease)
        if not settled:
            logger.warning("Run %s was refused, but its lease had been lost.", _show(run.run_id))

    async def _publish_outcome(self, run: QueuedRun, status: RunStatus, error: ErrorInfo) -> None:
        last = await self.runner.event_bus.last_seq(run.run_id)
        ctx = RunContext(run_id=run.run_id, agent_key=run.agent_key, publish=self.runner._publish, start_seq=last)
        try:
            if status is RunStatus.CANCELLED:
                await ctx.emit(EventType.RUN_CANCELLED, {"reason": error.message})
            else:
                if last == 0:
                    await ctx.emit(EventType.RUN_STARTED, {"agent_key": run.agent_key, "attempt": 1})
                await ctx.emit(EventType.RUN_FAILED, {"error": error.to_dict(), "attempts": 0})
        except (AgentRuntimeError, ValueError):
            logger.exception("Could not publish the outcome of run %s.", _show(run.run_id))

    async def _finish(self, lease: Lease, status: RunStatus, error: ErrorInfo) -> None:
        """Record a run that was not executed because it was cancelled before it started."""
        run = lease.run
        logger.warning("Run %s recorded %s without executing: %s", run.run_id, status, error.message)
        await self._publish_outcome(run, status, error)
        await self._record_and_ack(lease, RunResult(run_id=run.run_id, status=status, error=error, attempts=0))

    def _pop_local_cancel(self, run_id: str) -> str | None:
        try:
            pending = _local_cancels.get(self.queue)
        except TypeError:
            return None
        return pending.pop(run_id, None) if pending else None

    # -- background -------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        extend_many = getattr(self.queue, "extend_many", None)
        cancel_reasons = getattr(self.queue, "cancel_reasons", None)
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            held = [h for h in self._held.values() if not h.abandoned]
            if not held:
                continue
            try:
                if extend_many is not None:
                    kept = list(await extend_many([h.lease for h in held]))
                else:
                    kept = [await self.queue.extend(h.lease) for h in held]
                for h, ok in zip(held, kept, strict=True):
                    if not ok and h.task is not None and not h.task.done():
                        h.abandoned = True
                        h.task.cancel(msg="lease lost")
                ids = [h.lease.run.run_id for h in held if not h.abandoned]
                reasons: dict[str, str] = dict(await cancel_reasons(ids)) if cancel_reasons is not None else {}
                for run_id in ids:
                    reason = reasons.get(run_id) or self._pop_local_cancel(run_id)
                    if reason:
                        await self.runner.cancel(run_id, reason=reason)
            except Exception as e:
                logger.warning("Heartbeat failed (%s); leases are renewed at the next one.", e)

    async def _watch_cancels(self) -> None:
        watch = self.queue.watch_cancels  # type: ignore[attr-defined]
        while True:
            try:
                async for run_id, reason in watch():
                    if run_id in self._held and self.runner.is_running(run_id):
                        await self.runner.cancel(run_id, reason=reason)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("Cancellation watch failed (%s); restarting it.", e)
                await asyncio.sleep(1.0)


# -- command line (`agent-runtime worker | submit | events`, registered by cli.py) ------------


def add_cli_commands(sub: Any) -> None:
    """Add the `worker`, `submit` and `events` subcommands to the `agent-runtime` parser."""
    worker = sub.add_parser(
        "worker",
        help="serve queued runs: agent-runtime worker --app MODULE --concurrency N",
        description="Execute runs from the queue until SIGTERM/SIGINT. Backends come from "
        "configure() in the app module or from AGENT_RUNTIME_* / REDIS_URL; an app module may also "
        "define `runner = AgentRunner(...)` to choose them itself.",
    )
    worker.add_argument("--app", required=True, help="module that registers the agents (imported first)")
    worker.add_argument("--concurrency", type=int, default=10, help="runs at once (default 10)")
    worker.add_argument("--max-deliveries", type=int, default=5, help="deliveries before a run is poison (default 5)")
    worker.add_argument("--max-input-bytes", type=int, default=DEFAULT_MAX_INPUT_BYTES, help="largest run input")
    worker.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds runs may finish after SIGTERM")
    worker.add_argument("--log-level", default="INFO", help="logging level (default INFO)")

    submit_ = sub.add_parser("submit", help="queue a run: agent-runtime submit AGENT_KEY --input TEXT")
    submit_.add_argument("agent_key", help="key of the registered agent (on the workers)")
    group = submit_.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", help="the user's message")
    group.add_argument("--json-input", help="the whole input as JSON, e.g. '{\"messages\": [...]}'")
    submit_.add_argument("--run-id", help="run id (submitting an existing one changes nothing)")
    submit_.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    submit_.add_argument("--delay", type=float, default=0.0, help="seconds before the run may start")
    submit_.add_argument("--app", help="module to import first (e.g. one that calls configure())")
    submit_.add_argument("--wait", action="store_true", help="wait for the result and print it as JSON")
    submit_.add_argument("--timeout", type=float, default=None, help="with --wait: seconds to wait")

    events_ = sub.add_parser("events", help="show a run's events: agent-runtime events RUN_ID --follow")
    events_.add_argument("run_id")
    events_.add_argument("--after", type=int, default=0, help="only events with seq > AFTER (to reconnect)")
    events_.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    events_.add_argument("--json", action="store_true", help="one JSON object per line")
    events_.add_argument("--app", help="module to import first (e.g. one that calls configure())")

    dead = sub.add_parser(
        "dead-letters",
        help="runs workers refused: agent-runtime dead-letters list | requeue RUN_ID... | delete RUN_ID...",
        description="Runs a worker refused without executing (a payload it could not read, an unknown "
        "agent, an input over the limit, a poison run) are recorded FAILED and kept in the queue's "
        "dead letters. List them, requeue them (after fixing the cause), or delete them.",
    )
    dead_sub = dead.add_subparsers(dest="action", required=True)
    listing = dead_sub.add_parser("list", help="show dead letters, most recent first")
    listing.add_argument("--limit", type=int, default=100, help="most to show (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for action, verb in (("requeue", "put back in the queue (their FAILED results are forgotten)"), ("delete", "forget")):
        cmd = dead_sub.add_parser(action, help=f"{verb}: RUN_ID... or --all")
        cmd.add_argument("run_ids", nargs="*", metavar="RUN_ID")
        cmd.add_argument("--all", action="store_true", help="every dead letter")
    for cmd in dead_sub.choices.values():
        cmd.add_argument("--app", help="module to import first (e.g. one that calls configure())")


CLI_COMMANDS = frozenset({"worker", "submit", "events", "dead-letters"})
"""The subcommands `add_cli_commands` adds, handled by `run_cli_command`."""


def _import_app(name: str | None) -> Any:
    if not name:
        return None
    import importlib
    import sys

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UserError(f"Cannot import the app module {name!r}: {e}. Run from its folder or set PYTHONPATH.") from None


def _cli_runner(app: Any, *, shared: bool) -> AgentRunner:
    from .config import get_config
    from .runner import AgentRunner

    runner = getattr(app, "runner", None)
    if runner is not None:
        if not isinstance(runner, AgentRunner):
            raise UserError(f"`runner` in the app module must be an AgentRunner; got {type(runner).__name__}.")
        return runner
    config = get_config()
    if shared and (config.queue_backend == "memory" or config.event_bus_backend == "memory"):
        raise UserError(
            "This command needs backends shared with the workers, but the queue or event bus is "
            "'memory'. Set AGENT_RUNTIME_QUEUE_BACKEND=redis, AGENT_RUNTIME_EVENT_BUS_BACKEND=redis, "
            "AGENT_RUNTIME_STATE_STORE_BACKEND=redis and REDIS_URL, or configure() them in --app."
        )
    return AgentRunner()


async def run_cli_command(args: Any) -> int:
    """Run the `worker`, `submit` or `events` subcommand; returns the exit status."""
    if args.command == "worker":
        return await _cli_worker(args)
    if args.command == "submit":
        return await _cli_submit(args)
    if args.command == "dead-letters":
        return await _cli_dead_letters(args)
    return await _cli_events(args)


async def _cli_worker(args: Any) -> int:
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        raise UserError(f"--log-level must be DEBUG, INFO, WARNING or ERROR; got {args.log_level!r}.")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=False)
    if runner.queue.__class__.__name__ == "InMemoryQueue":
        logger.warning(
            "The queue is in memory: this worker only sees runs submitted in its own process. "
            "Set AGENT_RUNTIME_QUEUE_BACKEND=redis and REDIS_URL to serve runs from other processes."
        )
    config = WorkerConfig(
        concurrency=args.concurrency,
        max_deliveries=args.max_deliveries,
        max_input_bytes=args.max_input_bytes,
        shutdown_grace_seconds=args.shutdown_grace,
    )
    await Worker(runner, runner.queue, config).serve()
    return 0


async def _cli_submit(args: Any) -> int:
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    if args.json_input is not None:
        try:
            input_data = json.loads(args.json_input)
        except ValueError as e:
            raise UserError(f"--json-input is not valid JSON: {e}") from None
    else:
        input_data = args.input
    run_id = await submit(
        runner, args.agent_key, input_data, run_id=args.run_id, priority=args.priority, delay_seconds=args.delay
    )
    if not args.wait:
        print(run_id)
        return 0
    result = await wait(runner, run_id, args.timeout)
    print(json.dumps(result_to_dict(result), default=str))
    return 0 if result.status is RunStatus.SUCCEEDED else 1


async def _cli_events(args: Any) -> int:
    from .events.timeline import format_event

    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    t0: float | None = None
    async for event in events(runner, args.run_id, args.after, follow=args.follow):
        if args.json:
            print(json.dumps(event.to_dict(), default=str), flush=True)
        else:
            t0 = event.timestamp if t0 is None else t0
            print(format_event(event, t0), flush=True)
    return 0


async def _cli_dead_letters(args: Any) -> int:
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    try:
        return await _dead_letters_action(runner, args)
    finally:  # the command ends the process's use of the backends: close their connections
        for part in (runner.queue, runner.event_bus, runner.state_store):
            close = getattr(part, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


async def _dead_letters_action(runner: AgentRunner, args: Any) -> int:
    import datetime

    if args.action == "list":
        letters = await dead_letters(runner, args.limit)
        total = await _dead_letter_queue(runner).count_dead_letters()
        for d in letters:
            if args.json:
                print(json.dumps(d.to_dict(), ensure_ascii=True), flush=True)
                continue
            when = datetime.datetime.fromtimestamp(d.dead_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            print(f"{_show(d.run_id)}  {when}  deliveries={d.deliveries}  {d.payload_bytes} bytes")
            print(f"    reason:  {ascii(d.reason)[1:-1][:500]}")
            print(f"    payload: {d.payload_preview}")
        if not args.json:
            print(f"{total} dead letter(s)" + (f", {len(letters)} shown" if total > len(letters) else ""))
        return 0
    if bool(args.run_ids) == bool(args.all):
        raise UserError(f"`dead-letters {args.action}` takes RUN_ID... or --all (one of them).")
    ids = None if args.all else list(args.run_ids)
    if args.action == "requeue":
        done = await requeue_dead_letters(runner, ids)
        for run_id in done:  # as given, unless it would not print (not UTF-8, control characters)
            printable = run_id.isprintable() and run_id.encode("utf-8", "replace").decode() == run_id
            print(run_id if printable else _show(run_id))
        print(f"requeued {len(done)} run(s)", file=sys.stderr)
        return 0 if ids is None or len(done) == len(ids) else 1
    count = await _dead_letter_queue(runner).delete_dead_letters(ids)
    print(f"deleted {count} dead letter(s)", file=sys.stderr)
    return 0 if ids is None or count == len(ids) else 1
