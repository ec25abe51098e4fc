"""Shared plumbing of the Redis backends: the lazy import, the connection, and retry with backoff.

`redis` is an extra (`pip install 'agent-runtime-core[redis]'`): nothing here imports it until a
Redis backend is built, so the core stays dependency-free.

Connection loss is handled in one place, `RedisConnection.call`: an operation that fails because
Redis is unreachable (refused, reset, timed out, still loading its data after a restart) is retried
with capped exponential backoff and jitter until it succeeds or `retry_timeout_seconds` pass; then
it raises `BackendError`. Every Redis operation of our backends is safe to retry: each is either
idempotent (publish by `seq`, enqueue by run id, SET) or guarded by a lease token (ack, nack,
extend), and a lost reply to a dequeue only delays that run until its lease expires.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from ._redaction import get_logger
from ._secrets import MASK, redact, register_secret
from .errors import BackendError, UserError

__all__ = [
    "DEFAULT_PREFIX",
    "RedisConnection",
    "import_redis",
    "safe_url",
]

logger = get_logger("agent_runtime_core.redis")

T = TypeVar("T")

# redis-py's option (`redis.client.NEVER_DECODE`) to leave one reply undecoded.
_NEVER_DECODE = "NEVER_DECODE"

DEFAULT_PREFIX = "agent-runtime"
"""First part of every key our backends write, so one Redis can hold other data too."""


def import_redis(feature: str = "The Redis backends") -> ModuleType:
    """Import `redis.asyncio`, or raise an `ImportError` that names the extra to install."""
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as e:
        raise ImportError(
            f"{feature} require the 'redis' package. "
            "Install it with: pip install 'agent-runtime-core[redis]'"
        ) from e
    return redis_asyncio


def safe_url(url: str) -> str:
    """`url` with any password masked, for reprs, logs and errors."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return redact(url)
    if password:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
    return redact(url)


def _register_password(url: str | None) -> None:
    """Remember the URL's password as a secret, so `redact` masks it in any error text."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        register_secret(unquote(password))
        register_secret(password)


def _transient_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rex

    # BusyLoadingError (Redis loading its AOF after a restart) is a ConnectionError subclass.
    return (rex.ConnectionError, rex.TimeoutError, ConnectionError, OSError)


class RedisConnection:
    """One redis-py asyncio client plus the retry policy every backend call goes through.

    Backends build one from a URL (`redis://[:password@]host:port/db`, `rediss://` for TLS,
    `unix://`), or share an existing `redis.asyncio.Redis` client passed as `client=`.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        client: Any = None,
        feature: str = "The Redis backends",
        retry_timeout_seconds: float | None = 60.0,
        backoff_initial_seconds: float = 0.05,
        backoff_max_seconds: float = 2.0,
        socket_timeout_seconds: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        if client is None and not redis_url:
            raise UserError(
                f"{feature} need `redis_url=` (e.g. 'redis://localhost:6379/0'), or set it with "
                "configure(redis_url=...) or the REDIS_URL environment variable."
            )
        if retry_timeout_seconds is not None and retry_timeout_seconds < 0:
            raise UserError(f"`retry_timeout_seconds` must be >= 0 or None; got {retry_timeout_seconds}.")
        self._module = import_redis(feature)
        _register_password(redis_url)
        self.url = redis_url or _client_url(client)
        self.retry_timeout_seconds = retry_timeout_seconds
        self.backoff_initial_seconds = backoff_initial_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.socket_timeout_seconds = socket_timeout_seconds
        self._owns_client = client is None
        if client is None:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # Our own retry loop (below) handles connection loss, with backoff and a deadline;
            # redis-py's retries would hide outages and double the waits.
            # A blocking pool: when every connection is busy (many runs at once), a call waits for
            # one instead of failing with "Too many connections".
            pool = self._module.BlockingConnectionPool.from_url(
                redis_url,
                max_connections=max_connections,
                timeout=socket_timeout_seconds,
                decode_responses=True,
                socket_timeout=socket_timeout_seconds,
                socket_connect_timeout=min(5.0, socket_timeout_seconds),
                retry=Retry(NoBackoff(), 0),
                health_check_interval=30,
            )
            client = self._module.Redis.from_pool(pool)
        self.client: Any = client
        self._transient = _transient_errors()
        import redis.exceptions as rex

        self._no_script: type[Exception] = rex.NoScriptError
        self._outage_logged = False
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # commands sent directly plus batches sent, whose replies are not in

    # -- automatic pipelining ----------------------------------------------------------------
    #
    # Many runs on one worker issue small commands at the same moment. A command issued while no
    # batch is in flight is sent at once, from its caller's task (a lone writer pays nothing
    # extra). Commands issued while a batch is in flight, or in the same turn of the event loop
    # as a batch not sent yet, are sent together as one pipeline on the next turn: one write, one
    # connection from the pool, one wake-up, instead of one each. Each caller still gets its own
    # reply (or its own error, which `call` retries as usual).
    #
    # A batch counts as in flight until the turn after its replies were handed out, so the
    # callers it wakes (which issue their next commands in that turn) batch together again
    # instead of racing for the direct path.

    async def execute(self, *args: Any, raw: bool = False) -> Any:
        """Send one command: at once when nothing is in flight, else batched with the others.

        With `raw`, the reply is not decoded: strings come back as bytes. Use it to read what
        others may have written (a queued payload, a stored value), so that bytes that are not
        UTF-8 fail only the item that holds them, not the whole reply.
        """
        options = {_NEVER_DECODE: True} if raw else {}
        if self._in_flight or self._pending:
            return await self._enqueue(args, options)
        self._in_flight += 1
        try:
            return await self.client.execute_command(*args, **options)
        finally:
            self._in_flight -= 1

    def _enqueue(self, args: tuple[Any, ...], options: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            # The task's first step runs on the next turn: every command issued until then joins.
            task = loop.create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        self._pending.append((args, options, future))
        return future

    async def run_script(self, script: Any, keys: list[Any], args: list[Any], *, raw: bool = False) -> Any:
        """Run a registered Lua script through the automatic pipeline (loading it on demand);
        `raw` as for `execute`."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args, raw=raw)
        except self._no_script:
            if not raw:
                return await script(keys=keys, args=args)  # loads the script, then runs it
            await self.client.script_load(script.script)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args, raw=raw)

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._in_flight += 1
        try:
            await self._send(batch)
        finally:
            asyncio.get_running_loop().call_soon(self._landed)

    def _landed(self) -> None:
        self._in_flight -= 1

    async def _send(self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                args, options, _ = batch[0]
                replies = [await _reply_or_error(self.client.execute_command(*args, **options))]
            else:
                async with self.client.pipeline(transaction=False) as pipe:
                    for args, options, _ in batch:
                        pipe.execute_command(*args, **options)
                    replies = await pipe.execute(raise_on_error=False)
        except BaseException as e:  # the whole batch failed (connection lost, cancelled)
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else ConnectionError(str(e)))
            if not isinstance(e, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue  # its caller gave up (cancelled)
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def __repr__(self) -> str:
        return f"RedisConnection({safe_url(self.url)!r})"

    def register_script(self, source: str) -> Any:
        """A Lua script callable as `await script(keys=[...], args=[...])` (EVALSHA, loaded on
        demand, re-loaded after a Redis restart flushed the script cache)."""
        return self.client.register_script(source)

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        what: str,
        *,
        forever: bool = False,
    ) -> T:
        """Run `operation`, retrying it with capped exponential backoff while Redis is
        unreachable. Raises `BackendError` after `retry_timeout_seconds` (never when `forever`,
        which workers use for the calls that only wait for work)."""
        limit = None if forever else self.retry_timeout_seconds
        deadline = None if limit is None else time.monotonic() + limit
        delay = self.backoff_initial_seconds
        failures = 0
        while True:
            try:
                result = await operation()
            except self._transient as e:
                failures += 1
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise BackendError(
                        f"Redis at {safe_url(self.url)} stayed unreachable while trying to {what} "
                        f"({failures} attempts over {limit}s): {redact(str(e))}. Check that Redis is "
                        "running and reachable, or raise `retry_timeout_seconds`."
                    ) from e
                if failures == 1:
                    continue  # most often a pooled connection that died with an old server: retry now
                if not self._outage_logged:
                    self._outage_logged = True
                    logger.warning(
                        "Redis at %s unreachable (%s); retrying with backoff.",
                        safe_url(self.url),
                        redact(str(e)) or type(e).__name__,
                    )
                sleep = delay * random.uniform(0.5, 1.0)
                if deadline is not None:
                    sleep = max(0.0, min(sleep, deadline - now))
                await asyncio.sleep(sleep)
                delay = min(delay * 2, self.backoff_max_seconds)
                continue
            except self._module.ResponseError as e:
                raise BackendError(f"Redis refused to {what}: {redact(str(e))}") from e
            if self._outage_logged:
                self._outage_logged = False
                logger.warning("Redis at %s is reachable again.", safe_url(self.url))
            return result

    async def close(self) -> None:
        """Close the client's connections (only if this object created the client)."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        if self._owns_client:
            await self.client.aclose()


async def _reply_or_error(awaitable: Awaitable[Any]) -> Any:
    import redis.exceptions as rex

    try:
        return await awaitable
    except rex.ResponseError as e:
        return e


def _client_url(client: Any) -> str:
    try:
        kwargs = client.connection_pool.connection_kwargs
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
    except AttributeError:
        return "redis://<client>"
