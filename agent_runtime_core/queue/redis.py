"""A run queue on Redis: at-least-once delivery under leases, priorities, delays, idempotent enqueue.

Why sorted sets and Lua rather than Streams consumer groups: a stream delivers in arrival order
only, so priorities and delayed runs would need extra structures anyway, and XAUTOCLAIM reclaims by
idle time rather than by a lease a heartbeat can extend. Here every transition is one Lua script,
so a run is always in exactly one state, whatever the number of workers and clients:

```
enqueue ──> ready ──dequeue──> leased ──ack──> (gone)
   │          ^                  │  │
   └─delay─> delayed <─nack(delay)┘  └─lease expired (worker died) ──> ready
```

Keys (default prefix `agent-runtime`, queue `default`; the `{...}` hash tag keeps one queue's keys
in one Redis Cluster slot):

- `agent-runtime:{q:default}:ready`: sorted set of ready runs, score `-priority`, member a
  15-digit submission number followed by the run id (so equal priorities leave in FIFO order).
- `agent-runtime:{q:default}:delayed`: sorted set of run ids by ready time (Redis clock, ms).
- `agent-runtime:{q:default}:leased`: sorted set of run ids by lease expiry (Redis clock, ms).
- `agent-runtime:{q:default}:job:<run_id>`: hash with the payload (`p`, JSON of `QueuedRun`),
  priority (`pr`), ready-set member (`m`), deliveries (`d`), while leased the lease token
  (`t`) and worker id (`w`), and once dead-lettered the reason (`r`) and time (`dt`, ms). Its
  existence is what makes `enqueue` idempotent.
- `agent-runtime:{q:default}:dead`: sorted set of dead-lettered run ids, in the order they came:
  runs that workers refused (unreadable payload, unknown agent, over a limit, poison). They stay
  until requeued or deleted (`agent-runtime dead-letters ...`); the oldest go beyond
  `max_dead_letters`.
- `agent-runtime:{q:default}:missing`: how many ready-set entries were found without their job
  hash (dropped, and logged by the worker that met them).
- `agent-runtime:{q:default}:seq`: the submission counter.
- `agent-runtime:{q:default}:signal`: a list that `enqueue` pushes to and idle workers `BLPOP`,
  so they wake at once instead of polling.
- `agent-runtime:{q:default}:cancel:<run_id>` and channel `agent-runtime:{q:default}:cancel`:
  cancellation requests (see `request_cancel`).

Whatever another producer (or a damaged AOF) left in a job, it concerns that run alone: replies that
carry payloads are read as bytes and each payload is decoded and parsed on its own, within limits
(`read_payload`), and the scripts tolerate job hashes with missing or non-numeric fields.

Times come from the Redis server clock (`TIME` inside the scripts), so machines whose clocks
disagree still agree on leases. A dequeue is one script call for up to `count` runs, and ack and
extend one call each (`extend_many` renews all of a worker's leases in one call).

Needs the extra: `pip install 'agent-runtime-core[redis]'`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from .._json import check_text_bounds, loads_bounded
from .._redaction import get_logger
from .._redis import DEFAULT_PREFIX, RedisConnection, safe_url
from ..errors import InvalidInputError, UserError
from ..state.base import check_key
from ._redis_scripts import (
    ACK,
    COMPLETE,
    DEAD_LETTER,
    DELETE_DEAD,
    DEQUEUE,
    ENQUEUE,
    EXTEND,
    LIST_DEAD,
    NACK,
    REQUEUE_DEAD,
)
from .base import MAX_PAYLOAD_BYTES, DeadLetter, Lease, QueuedRun, preview, read_payload

__all__ = ["RedisLease", "RedisQueue"]

logger = get_logger("agent_runtime_core.queue.redis")

def _b(text: str) -> bytes:
    """A run id or key as the bytes Redis holds. Run ids read from Redis that were not UTF-8 are
    kept as str with `surrogateescape`, so they round-trip to the very same bytes."""
    return text.encode("utf-8", "surrogateescape")


@dataclass
class RedisLease(Lease):
    """A `Lease` on a run from a `RedisQueue`, with what the queue learnt while handing it out."""

    cancel_reason: str | None = None
    """Set when cancellation was requested before the run was delivered."""
    finished: bool = False
    """The run's result already exists (asked for with `dequeue_many(result_key_prefix=...)`):
    a redelivery of a finished run, to ack without executing."""


class RedisQueue:
    """Runs waiting in Redis for workers on any number of machines.

    Args:
        redis_url: Where Redis is, e.g. `redis://localhost:6379/0`. Turn on Redis persistence
            (`appendonly yes`) so that queued runs survive a restart of Redis.
        name: The queue's name; workers take runs from the queue of their name.
        prefix: First part of every key.
        lease_seconds: How long a worker holds a run without renewing its lease (the worker's
            heartbeat renews it every third of this). A run whose worker died goes to another
            worker after at most this long.
        poll_seconds: Longest wait of an idle worker before it looks again for runs whose delay
            or lease ended (new runs wake it at once).
        cancel_ttl_seconds: How long a cancellation request is kept for a run not yet delivered.
        client: An existing `redis.asyncio.Redis` (`decode_responses=True`) to use instead.
        retry_timeout_seconds: How long a call keeps retrying while Redis is unreachable before
            raising `BackendError` (None: forever).
        max_connections: Most Redis connections this object opens; calls beyond wait for one.
        max_payload_bytes: Largest payload parsed when a run is delivered; a larger one is handed
            out as invalid without being parsed (workers then record it FAILED).
        max_dead_letters: Most dead letters kept; beyond it the oldest are deleted.
    """

    _SIGNAL_CAP = 1000
    _MOVE_LIMIT = 100

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        name: str = "default",
        prefix: str = DEFAULT_PREFIX,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        cancel_ttl_seconds: float = 24 * 3600,
        client: Any = None,
        retry_timeout_seconds: float | None = 60.0,
        max_connections: int = 100,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_dead_letters: int = 10_000,
    ) -> None:
        if lease_seconds <= 0:
            raise UserError(f"`lease_seconds` must be > 0; got {lease_seconds}.")
        if not 0 < poll_seconds < 10:
            raise UserError(f"`poll_seconds` must be between 0 and 10; got {poll_seconds}.")
        check_key(name, "name")
        self._conn = RedisConnection(
            redis_url,
            client=client,
            feature="RedisQueue",
            retry_timeout_seconds=retry_timeout_seconds,
            max_connections=max_connections,
        )
        self.name = name
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.cancel_ttl_seconds = cancel_ttl_seconds
        self.max_payload_bytes = max_payload_bytes
        self.max_dead_letters = max_dead_letters
        self.missing_jobs = 0
        """Ready-set entries this object found without their job (dropped and logged)."""
        base = f"{prefix}:{{q:{name}}}"
        self._ready, self._delayed, self._leased = f"{base}:ready", f"{base}:delayed", f"{base}:leased"
        self._seq, self._signal = f"{base}:seq", f"{base}:signal"
        self._dead, self._missing = f"{base}:dead", f"{base}:missing"
        self._job_prefix = f"{base}:job:"
        self._cancel_prefix = f"{base}:cancel:"
        self._cancel_channel = f"{base}:cancel"
        self._enqueue = self._conn.register_script(ENQUEUE)
        self._dequeue = self._conn.register_script(DEQUEUE)
        self._ack = self._conn.register_script(ACK)
        self._complete = self._conn.register_script(COMPLETE)
        self._nack = self._conn.register_script(NACK)
        self._extend = self._conn.register_script(EXTEND)
        self._dead_letter = self._conn.register_script(DEAD_LETTER)
        self._list_dead = self._conn.register_script(LIST_DEAD)
        self._requeue_dead = self._conn.register_script(REQUEUE_DEAD)
        self._delete_dead = self._conn.register_script(DELETE_DEAD)

    def __repr__(self) -> str:
        return (
            f"RedisQueue({safe_url(self._conn.url)!r}, name={self.name!r}, "
            f"lease_seconds={self.lease_seconds})"
        )

    @property
    def url(self) -> str:
        """The Redis URL (password included: never log it; `repr()` masks it)."""
        return self._conn.url

    def completes_in(self, store: object) -> bool:
        """Whether `complete()` can record results in `store`: a `RedisStateStore` on this same
        Redis (a worker then records a result and acks in one round trip)."""
        from ..state.redis import RedisStateStore

        return isinstance(store, RedisStateStore) and store.url == self.url

    @property
    def lease_ms(self) -> int:
        return max(1, int(self.lease_seconds * 1000))

    # -- producing --------------------------------------------------------------------------

    async def enqueue(self, run: QueuedRun, *, delay_seconds: float = 0.0) -> bool:
        check_key(run.run_id, "run_id")
        data = run.to_dict()
        del data["deliveries"]
        try:
            payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_refuse)
        except (ValueError, RecursionError) as e:  # NaN, a cycle, nesting beyond the interpreter's
            if isinstance(e, UserError):
                raise
            raise UserError(f"A queued run's input must be finite, acyclic JSON: {e}") from None
        check_text_bounds(payload, what="A queued run's payload", max_bytes=self.max_payload_bytes, error=UserError)
        return await self.enqueue_raw(run.run_id, payload, priority=run.priority, delay_seconds=delay_seconds)

    async def enqueue_raw(
        self, run_id: str, payload: str | bytes, *, priority: int = 0, delay_seconds: float = 0.0
    ) -> bool:
        """Enqueue a payload as it is: the JSON of a `QueuedRun` dict, e.g. written by a producer
        in another language. It is not checked here; a worker that cannot read it records the
        run as failed with `InvalidInputError` and moves it to the dead letters. Returns False if
        the run id is already known (queued, running or dead-lettered)."""
        check_key(run_id, "run_id")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise UserError(f"`priority` must be an integer; got {priority!r}.")
        delay_ms = max(0, int(delay_seconds * 1000))
        keys = [self._ready, self._delayed, self._seq, self._signal, self._job_prefix + run_id]
        data = _b(payload) if isinstance(payload, str) else bytes(payload)
        args = [run_id, data, priority, delay_ms, self._SIGNAL_CAP]
        return bool(await self._conn.call(lambda: self._conn.run_script(self._enqueue, keys, args), "enqueue a run"))

    # -- consuming --------------------------------------------------------------------------

    async def dequeue(self, worker_id: str, *, timeout: float | None = None) -> Lease | None:
        leases = await self.dequeue_many(worker_id, 1, timeout=timeout)
        return leases[0] if leases else None

    async def dequeue_many(
        self, worker_id: str, count: int, *, timeout: float | None = None, result_key_prefix: str = ""
    ) -> list[Lease]:
        """Take up to `count` ready runs (highest priority first) in one round trip, waiting up
        to `timeout` seconds (None: forever) for the first one. With `result_key_prefix`, each
        lease's `finished` says whether the Redis key `<prefix><run_id>` exists (a worker whose
        results live in the same Redis learns in the same round trip that a run is done)."""
        if count < 1:
            raise UserError(f"`count` must be >= 1; got {count}.")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            leases, wake_ms = await self._take(worker_id, count, result_key_prefix)
            if leases:
                return leases
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            wait = self.poll_seconds
            if wake_ms >= 0:
                wait = min(wait, wake_ms / 1000)
            if remaining is not None:
                wait = min(wait, remaining)
            if wait >= 0.005:
                # Woken at once by an enqueue; otherwise back when a delay or lease may end.
                await self._conn.call(partial(self._conn.client.blpop, [self._signal], timeout=wait), "wait for runs")

    async def _take(self, worker_id: str, count: int, result_key_prefix: str = "") -> tuple[list[Lease], int]:
        keys = [self._ready, self._delayed, self._leased, self._missing]
        args = [
            self._job_prefix,
            worker_id,
            self.lease_ms,
            count,
            uuid.uuid4().hex,
            self._cancel_prefix,
            self._MOVE_LIMIT,
            result_key_prefix,
        ]
        # Read as bytes: a payload that is not UTF-8 must fail its own run, not this whole reply.
        out = await self._conn.call(
            lambda: self._conn.run_script(self._dequeue, keys, args, raw=True), "dequeue runs"
        )
        expires_at = int(out[0]) / 1000
        for raw_id in out[2]:
            self.missing_jobs += 1
            logger.warning(
                "Queue %r: the ready entry of run %s had no job data (deleted or expired by someone "
                "else); dropped it.", self.name, ascii(_str(raw_id))[:80],
            )
        leases: list[Lease] = []
        for i in range(3, len(out), 6):
            raw_id, payload, deliveries, token, cancel, done = out[i : i + 6]
            lease = self._lease(
                _str(raw_id), payload, int(deliveries), _str(token), _str(cancel), worker_id, expires_at
            )
            lease.finished = bool(int(done))
            leases.append(lease)
        return leases, int(out[1])

    def _lease(
        self, run_id: str, payload: bytes, deliveries: int, token: str, cancel: str, worker_id: str, expires_at: float
    ) -> RedisLease:
        invalid = None
        try:
            raw_id = _b(run_id)
            raw_id.decode("utf-8")
        except UnicodeDecodeError as e:
            invalid = f"The run id {ascii(run_id)[:80]} is not UTF-8 text (byte at offset {e.start})."
            run = QueuedRun(run_id=run_id, agent_key="")
        else:
            run, invalid = read_payload(run_id, payload, max_bytes=self.max_payload_bytes)
        run.run_id = run_id
        run.deliveries = deliveries
        return RedisLease(
            run,
            worker_id,
            token,
            expires_at,
            invalid=invalid,
            payload_bytes=len(payload),
            cancel_reason=cancel or None,
        )

    async def ack(self, lease: Lease) -> bool:
        run_id = _b(lease.run.run_id)
        keys = [self._leased, _b(self._job_prefix) + run_id]
        return bool(
            await self._conn.call(lambda: self._conn.run_script(self._ack, keys, [lease.token, run_id]), "ack a run")
        )

    async def complete(
        self, lease: Lease, result_key: str, result_json: str, *, ttl_seconds: float | None, index_key: str, index_member: str
    ) -> bool:
        """Store a finished run's result under the Redis key `result_key` (and `index_member` in
        the sorted set `index_key`) and ack the run, in one round trip. The result is stored even
        if the lease was lost; returns whether the ack succeeded."""
        run_id = _b(lease.run.run_id)
        ttl_ms = 0 if ttl_seconds is None else max(1, int(ttl_seconds * 1000))
        keys = [self._leased, _b(self._job_prefix) + run_id, result_key, index_key]
        args = [lease.token, run_id, result_json, ttl_ms, index_member]
        return bool(await self._conn.call(lambda: self._conn.run_script(self._complete, keys, args), "complete a run"))

    async def nack(self, lease: Lease, *, delay_seconds: float = 0.0) -> bool:
        return await self._give_back(lease, delay_seconds, uncount=False)

    async def release(self, lease: Lease) -> bool:
        """Give a run back without counting this delivery (a worker shutting down): a run
        released by rolling restarts never turns into a poison run."""
        return await self._give_back(lease, 0.0, uncount=True)

    async def _give_back(self, lease: Lease, delay_seconds: float, *, uncount: bool) -> bool:
        run_id = _b(lease.run.run_id)
        keys = [self._ready, self._delayed, self._leased, self._signal, _b(self._job_prefix) + run_id]
        args = [lease.token, run_id, max(0, int(delay_seconds * 1000)), "1" if uncount else "0", self._SIGNAL_CAP]
        return bool(await self._conn.call(lambda: self._conn.run_script(self._nack, keys, args), "give back a run"))

    async def extend(self, lease: Lease) -> bool:
        return (await self.extend_many([lease]))[0]

    async def extend_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Renew several leases in one round trip (a worker's heartbeat); False for each lost."""
        if not leases:
            return []
        args: list[Any] = [self._job_prefix, self.lease_ms]
        for lease in leases:
            args += [_b(lease.run.run_id), lease.token]
        out = await self._conn.call(lambda: self._conn.run_script(self._extend, [self._leased], args), "extend leases")
        kept = []
        for lease, expires in zip(leases, out, strict=True):
            if int(expires):
                lease.expires_at = int(expires) / 1000
            kept.append(bool(int(expires)))
        return kept

    async def size(self) -> int:
        async def sizes() -> list[int]:
            async with self._conn.client.pipeline(transaction=False) as pipe:
                pipe.zcard(self._ready).zcard(self._delayed).zcard(self._leased)
                return list(await pipe.execute())

        return sum(await self._conn.call(sizes, "count runs"))

    # -- cancellation -----------------------------------------------------------------------

    async def request_cancel(self, run_id: str, reason: str = "cancelled") -> None:
        """Ask whichever worker holds (or will take) `run_id` to cancel it.

        The request is stored (so a worker that takes the run later, or that missed the
        notification during a reconnect, still sees it at its next heartbeat) and published (so
        the worker holding the run sees it at once).
        """
        check_key(run_id, "run_id")
        ttl = max(1, int(self.cancel_ttl_seconds))

        async def send() -> None:
            async with self._conn.client.pipeline(transaction=True) as pipe:
                pipe.set(self._cancel_prefix + run_id, reason or "cancelled", ex=ttl)
                pipe.publish(self._cancel_channel, json.dumps({"run_id": run_id, "reason": reason}))
                await pipe.execute()

        await self._conn.call(send, "request a cancellation")

    async def cancel_reasons(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The pending cancellation requests among `run_ids`: run id -> reason."""
        if not run_ids:
            return {}
        keys = [_b(self._cancel_prefix + r) for r in run_ids]
        values = await self._conn.call(lambda: self._conn.client.mget(keys), "read cancellation requests")
        return {r: v for r, v in zip(run_ids, values, strict=True) if v is not None}

    async def watch_cancels(self) -> AsyncIterator[tuple[str, str]]:
        """Cancellation requests as they are published: (run_id, reason). Reconnects forever;
        requests sent while disconnected are caught by `cancel_reasons` at the next heartbeat."""
        delay = 0.05
        while True:
            pubsub = self._conn.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._cancel_channel)
                delay = 0.05
                while True:
                    message = await pubsub.get_message(timeout=self.poll_seconds)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        data = loads_bounded(message["data"], what="A cancellation message", max_bytes=65536)
                        yield str(data["run_id"]), str(data.get("reason") or "cancelled")
                    except (InvalidInputError, KeyError, TypeError, AttributeError):
                        logger.warning("Ignoring a malformed cancellation message on %s.", self._cancel_channel)
            except self._conn._transient:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._conn.backoff_max_seconds)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # the connection may be gone already
                    pass

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letter(self, lease: Lease, reason: str) -> bool:
        """Move a leased run to the dead letters with `reason` (see `DeadLetterQueue`): it leaves
        the queue, keeps its payload, and is never delivered again unless requeued."""
        run_id = _b(lease.run.run_id)
        keys = [self._leased, self._dead, _b(self._job_prefix) + run_id, self._seq]
        args = [lease.token, run_id, str(reason).encode("utf-8", "backslashreplace"), self.max_dead_letters, self._job_prefix]
        return bool(
            await self._conn.call(lambda: self._conn.run_script(self._dead_letter, keys, args), "dead-letter a run")
        )

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The dead letters, most recent first (at most `limit`); payloads shown only as a short,
        redacted preview."""
        if limit < 1:
            return []
        args = [self._job_prefix, 0, limit - 1, 240]
        out = await self._conn.call(
            lambda: self._conn.run_script(self._list_dead, [self._dead], args, raw=True), "list dead letters"
        )
        letters = []
        for i in range(0, len(out), 6):
            raw_id, dead_ms, reason, deliveries, size, start = out[i : i + 6]
            letters.append(
                DeadLetter(
                    run_id=_str(raw_id),
                    reason=bytes(reason).decode("utf-8", "replace"),
                    dead_at=float(dead_ms) / 1000,
                    deliveries=int(deliveries),
                    payload_bytes=int(size),
                    payload_preview=preview(bytes(start)),
                )
            )
        return letters

    async def count_dead_letters(self) -> int:
        """How many runs are in the dead letters."""
        return int(await self._conn.call(lambda: self._conn.execute("ZCARD", self._dead), "count dead letters"))

    async def missing_count(self) -> int:
        """How many ready entries without their job all workers of this queue have dropped."""
        value = await self._conn.call(lambda: self._conn.execute("GET", self._missing), "count missing jobs")
        return int(value or 0)

    async def _dead_ids(self, run_ids: Sequence[str] | None) -> list[bytes]:
        if run_ids is not None:
            return [_b(r) for r in run_ids]
        ids = await self._conn.call(lambda: self._conn.execute("ZRANGE", self._dead, 0, -1, raw=True), "list dead letters")
        return [bytes(i) for i in ids]

    async def requeue_dead_letters(self, run_ids: Sequence[str] | None = None) -> list[str]:
        """Put dead letters back in the queue, their deliveries counted from zero (all when
        `run_ids` is None); returns the run ids requeued. A recorded result of the run makes
        workers ack it without executing: `worker.requeue_dead_letters` forgets it first."""
        done: list[str] = []
        ids = await self._dead_ids(run_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            args: list[Any] = [self._job_prefix, self._SIGNAL_CAP, *chunk]
            keys = [self._ready, self._dead, self._signal]
            out = await self._conn.call(
                partial(self._conn.run_script, self._requeue_dead, keys, args, raw=True), "requeue dead letters"
            )
            done += [_str(i) for i in out]
        return done

    async def delete_dead_letters(self, run_ids: Sequence[str] | None = None) -> int:
        """Forget dead letters and their payloads (all when `run_ids` is None); returns how many."""
        deleted = 0
        ids = await self._dead_ids(run_ids)
        for start in range(0, len(ids), 500):
            args: list[Any] = [self._job_prefix, *ids[start : start + 500]]
            deleted += int(
                await self._conn.call(
                    partial(self._conn.run_script, self._delete_dead, [self._dead], args), "delete dead letters"
                )
            )
        return deleted

    async def purge(self) -> None:
        """Delete every run of this queue, waiting, leased or dead-lettered (for tests and resets)."""

        async def run() -> None:
            ids: set[bytes] = set()
            for member in await self._conn.execute("ZRANGE", self._ready, 0, -1, raw=True):
                ids.add(member[15:])
            for key in (self._delayed, self._leased, self._dead):
                ids.update(await self._conn.execute("ZRANGE", key, 0, -1, raw=True))
            keys: list[Any] = [self._ready, self._delayed, self._leased, self._signal, self._dead, self._missing]
            keys += [_b(self._job_prefix) + i for i in ids]
            await self._conn.client.delete(*keys)

        await self._conn.call(run, "purge the queue")

    async def close(self) -> None:
        """Close the Redis connections (if this queue created them)."""
        await self._conn.close()


def _refuse(value: Any) -> Any:
    raise UserError(
        f"A queued run's input must be JSON-serializable; got a {type(value).__name__}. "
        "Pass plain dicts, lists, strings, numbers, booleans and None."
    )


def _str(value: Any) -> str:
    """A reply read as bytes, as str: UTF-8, with any other bytes kept (`surrogateescape`)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)
