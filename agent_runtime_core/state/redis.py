"""A state store on Redis: checkpoints and values shared by every worker of a deployment.

Keys (with the default prefix `agent-runtime`):

- `agent-runtime:cp:<run_id>`: a run's checkpoint, JSON text.
- `agent-runtime:kv:<key>`: a value, JSON text, with a Redis expiry when it has a TTL.
- `agent-runtime:kv-index`: a sorted set of the value keys (all score 0, so ordered by bytes),
  which makes `list_keys(prefix)` a range read instead of a scan of the whole keyspace. Entries
  whose value has expired are dropped from it as they are met.

Needs the extra: `pip install 'agent-runtime-core[redis]'`.
"""

from __future__ import annotations

from typing import Any

from .._redis import DEFAULT_PREFIX, RedisConnection, safe_url
from ..errors import UserError
from .base import check_key, dumps, loads

__all__ = ["RedisStateStore"]

_SET = """
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1
"""

_DELETE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# Keys of the index in [ARGV[1], ARGV[2]) whose value still exists; stale entries are removed.
_LIST = """
local keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '(' .. ARGV[2])
local alive = {}
for _, key in ipairs(keys) do
  if redis.call('EXISTS', ARGV[3] .. key) == 1 then
    alive[#alive + 1] = key
  else
    redis.call('ZREM', KEYS[1], key)
  end
end
return alive
"""


class RedisStateStore:
    """Checkpoints and values in Redis, shared by every process that uses the same Redis.

    Args:
        redis_url: Where Redis is, e.g. `redis://localhost:6379/0` (a password in it never
            shows in reprs, logs or errors).
        prefix: First part of every key, so several deployments can share one Redis.
        checkpoint_ttl_seconds: Expire a checkpoint this long after its last save (None: keep it
            until deleted). Set it when runs are many and never resumed after a few days.
        client: An existing `redis.asyncio.Redis` (with `decode_responses=True`) to use instead of
            `redis_url`; it is not closed by `close()`.
        retry_timeout_seconds: How long a call keeps retrying while Redis is unreachable before
            raising `BackendError` (None: forever).
        max_connections: Most Redis connections this object opens; calls beyond wait for one.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        checkpoint_ttl_seconds: float | None = None,
        client: Any = None,
        retry_timeout_seconds: float | None = 60.0,
        max_connections: int = 100,
    ) -> None:
        self._conn = RedisConnection(
            redis_url,
            client=client,
            feature="RedisStateStore",
            retry_timeout_seconds=retry_timeout_seconds,
            max_connections=max_connections,
        )
        self.prefix = prefix
        if checkpoint_ttl_seconds is not None and checkpoint_ttl_seconds <= 0:
            raise UserError(f"`checkpoint_ttl_seconds` must be > 0 or None; got {checkpoint_ttl_seconds}.")
        self.checkpoint_ttl_seconds = checkpoint_ttl_seconds
        self._cp_ttl: tuple[str, ...] = (
            () if checkpoint_ttl_seconds is None else ("PX", str(max(1, int(checkpoint_ttl_seconds * 1000))))
        )
        self._cp = f"{prefix}:cp:"
        self._kv = f"{prefix}:kv:"
        self._index = f"{prefix}:kv-index"
        self._set = self._conn.register_script(_SET)
        self._delete = self._conn.register_script(_DELETE)
        self._list = self._conn.register_script(_LIST)

    def __repr__(self) -> str:
        return f"RedisStateStore({safe_url(self._conn.url)!r}, prefix={self.prefix!r})"

    @property
    def url(self) -> str:
        """The Redis URL (password included: never log it; `repr()` masks it)."""
        return self._conn.url

    @property
    def index_key(self) -> str:
        """The sorted set indexing the value keys (for `list_keys`)."""
        return self._index

    def value_key(self, key: str) -> str:
        """The Redis key holding the value stored under `key` (JSON text)."""
        return self._kv + check_key(key)

    def checkpoint_key(self, run_id: str) -> str:
        """The Redis key holding a run's checkpoint (JSON text).

        For agents that must apply a side effect exactly once: write the effect and the new
        checkpoint in one Redis transaction (`MULTI`), so a run re-delivered after a crash either
        sees both or neither.
        """
        return self._cp + check_key(run_id, "run_id")

    # -- checkpoints ------------------------------------------------------------------------

    async def save_checkpoint(self, run_id: str, state: dict[str, Any]) -> None:
        key = self.checkpoint_key(run_id)
        data = dumps(state, "Checkpoint state")
        await self._conn.call(lambda: self._conn.execute("SET", key, data, *self._cp_ttl), "save a checkpoint")

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        key = self.checkpoint_key(run_id)
        raw = await self._conn.call(lambda: self._conn.execute("GET", key, raw=True), "read a checkpoint")
        return None if raw is None else loads(raw, f"The checkpoint of run {run_id!r}")

    async def delete_checkpoint(self, run_id: str) -> None:
        key = self.checkpoint_key(run_id)
        await self._conn.call(lambda: self._conn.client.delete(key), "delete a checkpoint")

    # -- key-value --------------------------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        redis_key = self._kv + check_key(key)
        raw = await self._conn.call(lambda: self._conn.execute("GET", redis_key, raw=True), "read a value")
        return None if raw is None else loads(raw, f"The value of {key!r}")

    async def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        check_key(key)
        data = dumps(value, f"Value for {key!r}")
        if ttl_seconds is not None and ttl_seconds <= 0:
            await self.delete(key)  # already expired
            return
        ttl_ms = 0 if ttl_seconds is None else max(1, int(ttl_seconds * 1000))
        await self._conn.call(
            lambda: self._conn.run_script(self._set, [self._kv + key, self._index], [data, ttl_ms, key]), "store a value"
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._conn.call(
            lambda: self._delete(keys=[self._kv + key, self._index], args=[key]), "delete a value"
        )

    async def list_keys(self, prefix: str = "") -> list[str]:
        # Index members are ordered by their UTF-8 bytes, which is code point order, as `sorted`.
        upper = prefix + "\U0010ffff" if prefix else "\U0010ffff"
        keys = await self._conn.call(
            lambda: self._list(keys=[self._index], args=[prefix, upper, self._kv]), "list keys"
        )
        return [str(k) for k in keys]

    async def close(self) -> None:
        await self._conn.close()
