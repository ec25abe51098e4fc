"""The worker side of distributed execution: take runs from a queue, execute them with the
runner's engine, record their results, and keep serving whatever a run holds.

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
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _secrets
from .._engine import lifecycle
from .._engine.results import RESULT_KEY_PREFIX, get_result, result_key, result_to_dict
from .._redaction import get_logger
from ..agent import RunResult, RunStatus
from ..errors import (
    BackendError,
    CorruptDataError,
    ErrorInfo,
    InvalidInputError,
    NonRetriableError,
    UserError,
)
from ..queue.base import Lease, QueuedRun, RunQueue
from ..registry import RuntimeNotFoundError, get_runtime
from ..state.base import check_key, dumps
from ._local import local_workers, pop_local_cancel
from .client import DEFAULT_MAX_INPUT_BYTES

if TYPE_CHECKING:
    from ..runner import AgentRunner

__all__ = ["PoisonRunError", "Worker", "WorkerConfig"]

logger = get_logger("agent_runtime_core.worker")


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


def _same_server(queue: Any, store: Any) -> Any:
    """The store, when the queue can record results in it and ack in one step (a queue with
    `completes_in(store)`, e.g. `RedisQueue` with a `RedisStateStore` on the same Redis): then a
    worker learns whether a run is finished with its dequeue, and records a result and acks in
    one round trip. None otherwise."""
    completes_in = getattr(queue, "completes_in", None)
    return store if completes_in is not None and completes_in(store) else None



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
        self._same_server = _same_server(self.queue, runner.state_store)
        self._engine = runner._engine  # the runner's own engine writes the outcome of runs not executed
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
        local_workers.add(self)
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
        local_workers.discard(self)
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
        if many is not None and self._same_server is not None:
            many = functools.partial(many, result_key_prefix=self._same_server.value_key(RESULT_KEY_PREFIX))
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
        if self._same_server is not None:
            finished = bool(getattr(lease, "finished", False))  # learnt with the dequeue
        else:
            finished = await get_result(self.runner.state_store, run.run_id) is not None
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
        fast = self._same_server
        if fast is not None:  # one round trip: result and ack in one script
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
        await lifecycle.not_executed(self._engine.publish, self.runner.event_bus, run.run_id, run.agent_key, status, error)

    async def _finish(self, lease: Lease, status: RunStatus, error: ErrorInfo) -> None:
        """Record a run that was not executed because it was cancelled before it started."""
        run = lease.run
        logger.warning("Run %s recorded %s without executing: %s", run.run_id, status, error.message)
        await self._publish_outcome(run, status, error)
        await self._record_and_ack(lease, RunResult(run_id=run.run_id, status=status, error=error, attempts=0))

    def _pop_local_cancel(self, run_id: str) -> str | None:
        return pop_local_cancel(self.queue, run_id)

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
