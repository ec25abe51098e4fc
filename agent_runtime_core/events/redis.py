"""An event bus on Redis Streams: each run's events persisted in order, readable from any `seq`.

Not fire-and-forget pub/sub: a consumer that disconnects and comes back with the last `seq` it saw
gets every later event exactly once, in order, whichever process published them.

Layout (default prefix `agent-runtime`): one stream per run, `agent-runtime:ev:<run_id>`, whose
entry ids are `<seq>-1` and whose single field `e` holds the event as JSON. Publishing runs one
Lua script that compares `seq` with the stream's length, so a repeated `seq` is ignored and a `seq`
that would leave a gap is refused, atomically, whatever the number of publishers. After a run's
terminal event the stream expires after `retention_seconds`; a later event (a resumed run) clears
the expiry until the run ends again.

Needs the extra: `pip install 'agent-runtime-core[redis]'`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .._json import dumps_bounded
from .._redis import DEFAULT_PREFIX, RedisConnection, safe_url
from ..errors import UserError
from ..state.base import check_key, loads
from .base import TERMINAL_EVENT_TYPES, Event

__all__ = ["RedisEventBus"]

# KEYS[1] stream; ARGV: seq, event JSON, 1 if terminal, retention ms.
# Returns 1 stored, 0 duplicate; -n when seq would leave a gap after n.
_PUBLISH = """
local last = redis.call('XLEN', KEYS[1])
local seq = tonumber(ARGV[1])
if seq <= last then return 0 end
if seq ~= last + 1 then return -last - 1 end
redis.call('XADD', KEYS[1], ARGV[1] .. '-1', 'e', ARGV[2])
if ARGV[3] == '1' then
  if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
else
  redis.call('PERSIST', KEYS[1])
end
return 1
"""


class RedisEventBus:
    """Every run's events in a Redis stream, for workers and clients on many machines.

    Args:
        redis_url: Where Redis is, e.g. `redis://localhost:6379/0`.
        prefix: First part of every key.
        retention_seconds: How long a finished run's events are kept (default 7 days; None or 0
            keeps them until deleted).
        block_seconds: Longest single wait of `subscribe` on Redis before it asks again (keep it
            below the client's socket timeout, 10 s).
        client: An existing `redis.asyncio.Redis` (`decode_responses=True`) to use instead.
        retry_timeout_seconds: How long a call keeps retrying while Redis is unreachable before
            raising `BackendError` (None: forever). Subscribers always retry forever.
        max_connections: Most Redis connections this object opens; calls beyond wait for one.
            Each live subscriber holds one while it waits for events.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        retention_seconds: float | None = 7 * 24 * 3600,
        block_seconds: float = 2.0,
        client: Any = None,
        retry_timeout_seconds: float | None = 60.0,
        max_connections: int = 100,
    ) -> None:
        if retention_seconds is not None and retention_seconds < 0:
            raise UserError(f"`retention_seconds` must be >= 0 or None; got {retention_seconds}.")
        if not 0 < block_seconds < 10:
            raise UserError(f"`block_seconds` must be between 0 and 10; got {block_seconds}.")
        self._conn = RedisConnection(
            redis_url,
            client=client,
            feature="RedisEventBus",
            retry_timeout_seconds=retry_timeout_seconds,
            max_connections=max_connections,
        )
        self.prefix = prefix
        self.retention_seconds = retention_seconds
        self.block_seconds = block_seconds
        self._retention_ms = int((retention_seconds or 0) * 1000)
        self._publish = self._conn.register_script(_PUBLISH)

    def __repr__(self) -> str:
        return (
            f"RedisEventBus({safe_url(self._conn.url)!r}, prefix={self.prefix!r}, "
            f"retention_seconds={self.retention_seconds})"
        )

    def stream_key(self, run_id: str) -> str:
        """The Redis stream holding a run's events."""
        return f"{self.prefix}:ev:{check_key(run_id, 'run_id')}"

    async def publish(self, event: Event) -> None:
        key = self.stream_key(event.run_id)
        # Encoded within the limits the reader applies (`_parse`): an event the stream could not give
        # back (NaN, nested too deep) is refused here, at emit, instead of breaking every later read.
        data = dumps_bounded(event.to_dict(), what=f"A {event.type.value} event's payload", default=str)
        terminal = "1" if event.type in TERMINAL_EVENT_TYPES else "0"
        stored = await self._conn.call(
            lambda: self._conn.run_script(self._publish, [key], [event.seq, data, terminal, self._retention_ms]),
            "publish an event",
        )
        if int(stored) < 0:
            raise ValueError(
                f"Event seq {event.seq} for run {event.run_id!r} would leave a gap after {-int(stored) - 1}."
            )

    async def get_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        key = self.stream_key(run_id)
        start = f"({max(after_seq, 0)}-1" if after_seq > 0 else "-"
        entries = await self._conn.call(lambda: self._conn.client.xrange(key, start, "+"), "read events")
        return [_parse(entry) for entry in entries]

    async def last_seq(self, run_id: str) -> int:
        key = self.stream_key(run_id)
        return int(await self._conn.call(lambda: self._conn.execute("XLEN", key), "read the last event seq"))

    async def read(self, run_id: str, after_seq: int = 0, *, block_seconds: float = 0.0) -> list[Event]:
        """Events with `seq > after_seq`; when there are none yet, wait up to `block_seconds` for
        some (at most `self.block_seconds`, so a caller can stop between calls)."""
        key = self.stream_key(run_id)
        block_ms = int(min(max(block_seconds, 0.0), self.block_seconds) * 1000)
        last_id = f"{max(after_seq, 0)}-1" if after_seq > 0 else "0-0"

        async def read_once() -> Any:
            return await self._conn.client.xread({key: last_id}, count=1000, block=block_ms or None)

        response = await self._conn.call(read_once, "read events", forever=True)
        if not response:
            return []
        # RESP2: [[stream, entries]]; RESP3: {stream: [entries]}
        entries = next(iter(response.values()))[0] if isinstance(response, dict) else response[0][1]
        return [_parse(entry) for entry in entries]

    async def subscribe(self, run_id: str, after_seq: int = 0) -> AsyncIterator[Event]:
        position = max(after_seq, 0)
        # Whether the event at `position` is the run's terminal event: None when not known yet
        # (subscribed after some seq), so the first pass asks Redis; afterwards it is the last
        # event yielded. Only after a terminal event is there anything to check before waiting:
        # a live run goes straight back to the blocking read, one round trip per wake-up.
        terminal: bool | None = None if position > 0 else False
        while True:
            if terminal is False:
                events = await self.read(run_id, position, block_seconds=self.block_seconds)
            else:
                events = await self.read(run_id, position)
                if not events:
                    if terminal or await self._ends_at(run_id, position):
                        return  # the run's stream ends with a terminal event we already passed
                    terminal = False
                    continue
            for event in events:
                if event.seq != position + 1:  # cannot happen with our publisher; never skip ahead
                    break
                position = event.seq
                terminal = event.is_terminal
                yield event

    async def _ends_at(self, run_id: str, seq: int) -> bool:
        key = self.stream_key(run_id)
        last = await self._conn.call(
            lambda: self._conn.client.xrevrange(key, "+", "-", count=1), "read events", forever=True
        )
        if not last:
            return False
        event = _parse(last[0])
        return event.seq == seq and event.is_terminal

    async def delete(self, run_id: str) -> None:
        """Forget a run's events now, without waiting for the retention."""
        key = self.stream_key(run_id)
        await self._conn.call(lambda: self._conn.client.delete(key), "delete events")

    async def close(self) -> None:
        """Close the Redis connections (if this bus created them)."""
        await self._conn.close()


def _parse(entry: Any) -> Event:
    _id, fields = entry
    return Event.from_dict(loads(fields["e"], "A stored event"))
