"""`StateStoreSaver`: a LangGraph checkpointer that keeps its checkpoints in a runtime `StateStore`.

Why: a LangGraph run is resumable only through its checkpointer. Backing the checkpointer with the
runtime's `StateStore` (memory, SQLite, Redis) makes the runtime's store the single source of truth,
so a run re-executed with the same run id in another process, after a crash, continues from its
last super-step, and an interrupted run can be resumed by `AgentRunner.resume` anywhere.

Layout of the keys (every part URL-quoted, so `:` in a namespace cannot collide)::

    {prefix}:{thread_id}:cp:{ns}:{checkpoint_id}              -> checkpoint, metadata, parent id
    {prefix}:{thread_id}:blob:{ns}:{channel}:{version}        -> one channel value at one version
    {prefix}:{thread_id}:w:{ns}:{checkpoint_id}:{task}:{idx}  -> one pending write

Values are JSON: each LangGraph object goes through the saver's serde (`dumps_typed`) and its bytes
are stored base64-encoded, as the `StateStore` contract asks. Base64 hides text from the store's
redaction, so the saver redacts first: when the serialized bytes may hold a secret (msgpack keeps
strings as UTF-8), the value is redacted (its strings, inside dicts, lists, messages, dataclasses;
an exception becomes its redacted `repr`, which is what the serde stores of it anyway) and
serialized again. A checkpoint is written after its
channel blobs, so a crash between the two leaves only unreferenced blobs, never a checkpoint that
points at missing data.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from pydantic import BaseModel

from agent_runtime_core.integration import may_hold_secret, redact

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from agent_runtime_core.state.base import StateStore

__all__ = ["DEFAULT_KEY_PREFIX", "StateStoreSaver"]

DEFAULT_KEY_PREFIX = "langgraph"
"""First part of every key the saver writes (`langgraph:{thread_id}:...`)."""

OnPut = Callable[[str, CheckpointMetadata], Awaitable[None]]
"""Called after each checkpoint is stored, with its id and metadata (the runtime emits CHECKPOINT)."""

_SYNC_MESSAGE = (
    "StateStoreSaver is async only (the runtime's StateStore is async): drive the graph with "
    "ainvoke/astream/astream_events and read state with aget_state, not the sync methods."
)


@functools.lru_cache(maxsize=4096)
def _q(part: str) -> str:
    """A key part, URL-quoted (cached: the same run ids, namespaces and channels recur)."""
    return quote(part, safe="")


class StateStoreSaver(BaseCheckpointSaver[str]):
    """A LangGraph `BaseCheckpointSaver` whose storage is an agent-runtime `StateStore`.

    `LangGraphRuntime` builds one per run on the run's state store; use it directly to give any
    graph durable checkpoints in the runtime's store::

        saver = StateStoreSaver(SQLiteStateStore("state.db"))
        graph = builder.compile(checkpointer=saver)
        await graph.ainvoke(inputs, {"configurable": {"thread_id": "t-1"}}, durability="sync")

    Only the async methods are implemented (`aget_tuple`, `alist`, `aput`, `aput_writes`,
    `adelete_thread`); the sync ones raise `NotImplementedError` with a hint.

    Args:
        store: Where checkpoints go.
        key_prefix: First part of every key (default `"langgraph"`).
        serde: LangGraph serializer; defaults to the saver's `JsonPlusSerializer`.
        on_put: Awaited after each stored checkpoint with `(checkpoint_id, metadata)`.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        serde: SerializerProtocol | None = None,
        on_put: OnPut | None = None,
    ) -> None:
        super().__init__(serde=serde)
        for method in ("get", "set", "delete", "list_keys"):
            if not callable(getattr(store, method, None)):
                raise TypeError(
                    f"StateStoreSaver needs an agent_runtime_core StateStore; "
                    f"{type(store).__name__} has no `{method}`."
                )
        if not key_prefix or ":" in key_prefix:
            raise ValueError(f"`key_prefix` must be a non-empty string without ':'; got {key_prefix!r}.")
        self.store = store
        self.key_prefix = key_prefix
        self.on_put = on_put

    def __repr__(self) -> str:
        return f"StateStoreSaver(store={self.store!r}, key_prefix={self.key_prefix!r})"

    # -- keys and encoding --------------------------------------------------------------------

    def thread_prefix(self, thread_id: str) -> str:
        """The prefix of every key of `thread_id` (for listing or cleaning up a run's state)."""
        return f"{self.key_prefix}:{_q(thread_id)}:"

    def _cp_prefix(self, thread_id: str, ns: str) -> str:
        return f"{self.thread_prefix(thread_id)}cp:{_q(ns)}:"

    def _blob_key(self, thread_id: str, ns: str, channel: str, version: Any) -> str:
        return f"{self.thread_prefix(thread_id)}blob:{_q(ns)}:{_q(channel)}:{_q(str(version))}"

    def _writes_prefix(self, thread_id: str, ns: str, checkpoint_id: str) -> str:
        return f"{self.thread_prefix(thread_id)}w:{_q(ns)}:{_q(checkpoint_id)}:"

    def _encode(self, value: Any) -> dict[str, str]:
        type_, data = self.serde.dumps_typed(value)
        if may_hold_secret(data.decode("latin-1")):
            clean = _redacted(value, 0)
            if clean is not value:
                type_, data = self.serde.dumps_typed(clean)
        return {"t": type_, "b": base64.b64encode(data).decode("ascii")}

    def _decode(self, stored: dict[str, str]) -> Any:
        return self.serde.loads_typed((stored["t"], base64.b64decode(stored["b"])))

    # -- reading ------------------------------------------------------------------------------

    async def _load_tuple(
        self, thread_id: str, ns: str, checkpoint_id: str, doc: dict[str, Any]
    ) -> CheckpointTuple:
        checkpoint: Checkpoint = self._decode(doc["checkpoint"])
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            blob = await self.store.get(self._blob_key(thread_id, ns, channel, version))
            if blob is not None and not blob.get("empty"):
                values[channel] = self._decode(blob)
        parent = doc.get("parent")
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                }
            },
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._decode(doc["metadata"]),
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent}}
                if parent
                else None
            ),
            pending_writes=await self._load_writes(thread_id, ns, checkpoint_id),
        )

    async def _load_writes(self, thread_id: str, ns: str, checkpoint_id: str) -> list[PendingWrite]:
        stored: list[dict[str, Any]] = []
        for key in await self.store.list_keys(self._writes_prefix(thread_id, ns, checkpoint_id)):
            value = await self.store.get(key)
            if value is not None:
                stored.append(value)
        stored.sort(key=lambda w: writes_sort_key(w["task_path"], w["task_id"], w["idx"]))
        return [(w["task_id"], w["channel"], self._decode(w["value"])) for w in stored]

    async def _checkpoint_ids(self, thread_id: str, ns: str) -> list[str]:
        prefix = self._cp_prefix(thread_id, ns)
        return [unquote(key[len(prefix) :]) for key in await self.store.list_keys(prefix)]

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config` (its `checkpoint_id`), else the thread's latest."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            ids = await self._checkpoint_ids(thread_id, ns)
            if not ids:
                return None
            checkpoint_id = max(ids)  # ids are uuid6: time-ordered as strings
        doc = await self.store.get(self._cp_prefix(thread_id, ns) + _q(checkpoint_id))
        if doc is None:
            return None
        return await self._load_tuple(thread_id, ns, checkpoint_id, doc)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints, newest first, of one thread (or of all threads when `config` is None)."""
        if config is not None:
            thread_ids = [str(config["configurable"]["thread_id"])]
            wanted_ns = config["configurable"].get("checkpoint_ns")
            wanted_id = get_checkpoint_id(config)
        else:
            thread_ids = sorted(
                {unquote(key.split(":", 2)[1]) for key in await self.store.list_keys(f"{self.key_prefix}:")}
            )
            wanted_ns, wanted_id = None, None
        before_id = get_checkpoint_id(before) if before else None
        remaining = limit
        for thread_id in thread_ids:
            entries: list[tuple[str, str]] = []  # (checkpoint_id, ns)
            cp_root = f"{self.thread_prefix(thread_id)}cp:"
            for key in await self.store.list_keys(cp_root):
                ns_part, _, id_part = key[len(cp_root) :].partition(":")
                entries.append((unquote(id_part), unquote(ns_part)))
            for checkpoint_id, ns in sorted(entries, reverse=True):
                if wanted_ns is not None and ns != wanted_ns:
                    continue
                if wanted_id and checkpoint_id != wanted_id:
                    continue
                if before_id and checkpoint_id >= before_id:
                    continue
                doc = await self.store.get(self._cp_prefix(thread_id, ns) + _q(checkpoint_id))
                if doc is None:
                    continue
                if filter:
                    metadata = self._decode(doc["metadata"])
                    if not all(metadata.get(k) == v for k, v in filter.items()):
                        continue
                if remaining is not None:
                    if remaining <= 0:
                        return
                    remaining -= 1
                yield await self._load_tuple(thread_id, ns, checkpoint_id, doc)

    # -- writing ------------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint: its new channel values first, then the checkpoint itself."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        copy = dict(checkpoint)
        values: dict[str, Any] = copy.pop("channel_values", {})  # type: ignore[assignment]
        for channel, version in new_versions.items():
            blob = self._encode(values[channel]) if channel in values else {"empty": True}
            await self.store.set(self._blob_key(thread_id, ns, channel, version), blob)
        full_metadata = get_checkpoint_metadata(config, metadata)
        await self.store.set(
            self._cp_prefix(thread_id, ns) + _q(checkpoint["id"]),
            {
                "checkpoint": self._encode(copy),
                "metadata": self._encode(full_metadata),
                "parent": configurable.get("checkpoint_id"),
            },
        )
        if self.on_put is not None:
            await self.on_put(checkpoint["id"], full_metadata)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint. Ordinary writes are kept once (the first
        wins, as in LangGraph's own savers); special ones (error, interrupt, resume) overwrite."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        prefix = self._writes_prefix(thread_id, ns, str(configurable["checkpoint_id"]))
        existing: set[str] | None = None
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            key = f"{prefix}{_q(task_id)}:{idx}"
            if idx >= 0:
                if existing is None:
                    existing = set(await self.store.list_keys(f"{prefix}{_q(task_id)}:"))
                if key in existing:
                    continue
            await self.store.set(
                key,
                {
                    "task_id": task_id,
                    "channel": channel,
                    "value": self._encode(value),
                    "task_path": task_path,
                    "idx": idx,
                },
            )

    async def adelete_thread(self, thread_id: str) -> None:
        """Forget every checkpoint, blob and write of `thread_id`."""
        for key in await self.store.list_keys(self.thread_prefix(str(thread_id))):
            await self.store.delete(key)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Monotonic string versions, `<counter>.<random>` like LangGraph's in-memory saver."""
        current_v = 0 if current is None else int(str(current).split(".")[0])  # ints too
        return f"{current_v + 1:032}.{random.random():016}"

    # -- the sync API is not available --------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Not available: use `aget_tuple`."""
        raise NotImplementedError(_SYNC_MESSAGE)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Not available: use `alist`."""
        raise NotImplementedError(_SYNC_MESSAGE)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Not available: use `aput`."""
        raise NotImplementedError(_SYNC_MESSAGE)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Not available: use `aput_writes`."""
        raise NotImplementedError(_SYNC_MESSAGE)

    def delete_thread(self, thread_id: str) -> None:
        """Not available: use `adelete_thread`."""
        raise NotImplementedError(_SYNC_MESSAGE)


def _redacted(value: Any, depth: int) -> Any:
    """`value` with its strings redacted, copied only where something was masked (the same
    object back when nothing was)."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float | bytes) or depth > 64:
        return value
    if isinstance(value, BaseException):
        text = repr(value)
        clean = redact(text)
        return value if clean == text else clean
    if isinstance(value, list | tuple):
        items = [_redacted(item, depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)  # a NamedTuple keeps its type
    if isinstance(value, dict):
        changed = {k: new for k, v in value.items() if (new := _redacted(v, depth + 1)) is not v}
        if not changed:
            return value
        out = copy.copy(value)
        out.update(changed)
        return out
    if isinstance(value, BaseModel):  # LangChain messages
        updates = {k: new for k in type(value).model_fields if (new := _redacted(getattr(value, k), depth + 1))
                   is not getattr(value, k)}
        return value.model_copy(update=updates) if updates else value
    fields = (
        [f.name for f in dataclasses.fields(value)] if dataclasses.is_dataclass(value)
        else list(vars(value)) if hasattr(value, "__dict__")
        else [n for c in type(value).__mro__ for n in getattr(c, "__slots__", ()) if hasattr(value, n)]  # Send
    )
    updates = {k: new for k in fields if (new := _redacted(getattr(value, k), depth + 1)) is not getattr(value, k)}
    if not updates:
        return value
    out = copy.copy(value)
    for k, new in updates.items():
        object.__setattr__(out, k, new)
    return out
