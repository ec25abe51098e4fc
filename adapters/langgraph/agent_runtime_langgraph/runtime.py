"""`LangGraphRuntime`: a LangGraph graph as an agent-runtime `AgentRuntime`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import convert_to_messages
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointMetadata
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.types import Command, StateSnapshot

from agent_runtime_core.agent import AgentRuntime, RunResult
from agent_runtime_core.context import RunContext
from agent_runtime_core.errors import NonRetriableError, RunCancelledError
from agent_runtime_core.events import EventType
from agent_runtime_core.integration import RunRecorder, to_jsonable

from ._convert import as_messages, last_ai_text, openai_messages
from ._state import DEFAULT_KEY_PREFIX, StateStoreSaver
from ._translate import StreamingTranslation, Translation

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["Durability", "InputMapper", "LangGraphRecursionError", "LangGraphRuntime", "OutputMapper"]

Durability = Literal["sync", "async", "exit"]
InputMapper = Callable[[RunContext], Mapping[str, Any]]
"""Builds the graph's input from the run (`ctx.input_messages`, `ctx.input_data`, ...)."""
OutputMapper = Callable[[Any], "Mapping[str, Any] | str"]
"""Builds `final_output` from the graph's final state; a string becomes `{"response": ...}`."""


class LangGraphRecursionError(NonRetriableError):
    """The graph hit its recursion limit. Not retried: a retry would continue from the last
    checkpoint with a fresh limit, silently multiplying it."""


class LangGraphRuntime(AgentRuntime):
    """Runs a LangGraph graph under `AgentRunner`: its events, checkpoints, interrupts and
    cancellation go through the runtime.

    - Input: a messages-state graph (its input has a `messages` key, e.g. `MessagesState`,
      `create_react_agent`, `langchain.agents.create_agent`) gets `ctx.input_messages` as
      LangChain messages; any other state schema needs `input_mapper(ctx) -> dict`.
    - Output: `final_output={"response": <text of the last AI message>}` and `final_messages`
      as OpenAI-style dicts; `output_mapper(state)` replaces `final_output`.
    - Checkpoints: each run gets a `StateStoreSaver` on the run's `StateStore` with
      `thread_id = run_id`, written every super-step (`durability="sync"`), so a re-executed run
      (a crash, a retry) continues from its last super-step, and a finished one returns its result
      without running again.
    - Human in the loop: `interrupt(value)` in a node ends the run RUN_INTERRUPTED with
      `{"question": value, ...}`; `runner.resume(run_id, answer)` continues it with
      `Command(resume=answer)`.
    - Cancellation: `runner.cancel(run_id)` cancels the graph's task at once (its HTTP call to the
      model is closed; no further model call is made).

    Args:
        graph: A compiled graph (`CompiledStateGraph` or any `Pregel`) or a `StateGraph` builder
            (compiled here). Its own checkpointer is replaced by the runtime's per run.
        key: The agent's key (registry, events).
        input_mapper: `ctx -> dict` input for graphs without a `messages` input.
        output_mapper: `final_state -> dict | str` to build `final_output`.
        config: Extra `RunnableConfig` for every run (`recursion_limit`, `callbacks`, `tags`,
            `configurable` values...). `thread_id` is always the run id.
        durability: When LangGraph writes checkpoints: `"sync"` (default: before the next
            super-step starts, survives a crash at any point), `"async"` (overlaps the next step),
            `"exit"` (only at the end: a crash loses the run's progress).
        checkpointer: Use this saver instead of a `StateStoreSaver` on the run's store (e.g. a
            Postgres saver you already run); runs are still keyed by run id.
        key_prefix: Prefix of the `StateStore` keys (`"langgraph:{run_id}:..."`).
        emit_checkpoint_events: Emit CHECKPOINT `{checkpoint_id, superstep, source}` for each
            checkpoint stored.
        stream_kwargs: Extra keyword arguments for `graph.astream` (e.g. `context=`);
            `astream_events`' event filters (`include_names`, ...) and `stream_mode` are ignored.
        stream_tokens: Make chat models stream their tokens (ASSISTANT_DELTA events; the
            default). False runs the graph as `ainvoke` does: no deltas, and no streaming cost.
    """

    def __init__(
        self,
        graph: Any,
        *,
        key: str,
        input_mapper: InputMapper | None = None,
        output_mapper: OutputMapper | None = None,
        config: Mapping[str, Any] | None = None,
        durability: Durability = "sync",
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        emit_checkpoint_events: bool = True,
        stream_kwargs: Mapping[str, Any] | None = None,
        stream_tokens: bool = True,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError(f"`key` must be a non-empty string; got {key!r}.")
        if isinstance(graph, StateGraph):
            graph = graph.compile()
        if not isinstance(graph, Pregel):
            raise TypeError(
                "LangGraphRuntime needs a compiled LangGraph graph (e.g. `builder.compile()`, "
                "`create_react_agent(...)`, `langchain.agents.create_agent(...)`) or a StateGraph "
                f"builder; got {type(graph).__module__}.{type(graph).__qualname__}."
            )
        if durability not in ("sync", "async", "exit"):
            raise ValueError(f"`durability` must be 'sync', 'async' or 'exit'; got {durability!r}.")
        if checkpointer is not None and not isinstance(checkpointer, BaseCheckpointSaver):
            raise TypeError(f"`checkpointer` must be a BaseCheckpointSaver; got {type(checkpointer).__name__}.")
        for name, fn in (("input_mapper", input_mapper), ("output_mapper", output_mapper)):
            if fn is not None and not callable(fn):
                raise TypeError(f"`{name}` must be callable; got {type(fn).__name__}.")
        input_keys = _input_keys(graph)
        if "messages" not in input_keys and input_mapper is None:
            raise TypeError(
                f"The graph's input has no `messages` key (its input: {sorted(input_keys)}); pass "
                "`input_mapper=lambda ctx: {...}` to build its input from the run."
            )
        self._key = key
        self.graph: Pregel[Any, Any, Any, Any] = graph
        self.input_mapper = input_mapper
        self.output_mapper = output_mapper
        self.config: dict[str, Any] = dict(config or {})
        self.durability: Durability = durability
        self.checkpointer = checkpointer
        self.key_prefix = key_prefix
        self.emit_checkpoint_events = emit_checkpoint_events
        self.stream_kwargs: dict[str, Any] = dict(stream_kwargs or {})
        self.stream_tokens = bool(stream_tokens)
        self._local_saver: InMemorySaver | None = None  # when a context has no state store

    @property
    def key(self) -> str:
        """The agent's key."""
        return self._key

    # -- one run ------------------------------------------------------------------------------

    def _saver_for(self, ctx: RunContext) -> BaseCheckpointSaver[Any]:
        if self.checkpointer is not None:
            return self.checkpointer
        store = ctx.state_store
        if store is None:  # a bare test context: keep state in this process only
            if self._local_saver is None:
                self._local_saver = InMemorySaver()
            return self._local_saver

        async def on_put(checkpoint_id: str, metadata: CheckpointMetadata) -> None:
            if self.emit_checkpoint_events:
                payload: dict[str, Any] = {"checkpoint_id": checkpoint_id}
                if isinstance(metadata.get("step"), int):
                    payload["superstep"] = metadata["step"]
                if metadata.get("source"):
                    payload["source"] = str(metadata["source"])
                await ctx.emit(EventType.CHECKPOINT, payload)

        return StateStoreSaver(store, key_prefix=self.key_prefix, on_put=on_put)

    def _run_config(self, ctx: RunContext) -> RunnableConfig:
        config = dict(self.config)
        config["configurable"] = {**dict(self.config.get("configurable") or {}), "thread_id": ctx.run_id}
        config["metadata"] = {**dict(self.config.get("metadata") or {}), "agent_runtime_run_id": ctx.run_id}
        return cast("RunnableConfig", config)

    def _graph_input(self, ctx: RunContext) -> Any:
        if self.input_mapper is not None:
            mapped = self.input_mapper(ctx)
            if not isinstance(mapped, Mapping):
                raise NonRetriableError(
                    f"input_mapper must return a dict for the graph; got {type(mapped).__name__}."
                )
            return dict(mapped)
        return {"messages": convert_to_messages(ctx.input_messages)}

    async def run(self, ctx: RunContext) -> RunResult:
        """Run (or continue, or resume) the graph for `ctx`'s run."""
        saver = self._saver_for(ctx)
        graph = self.graph.copy(update={"checkpointer": saver})
        config = self._run_config(ctx)
        recorder = RunRecorder(ctx)
        restored: list[Any] = []  # the messages of the saved state, if any

        saved = await saver.aget_tuple(config)
        if saved is None:
            if ctx.is_resuming:
                raise NonRetriableError(
                    f"Run {ctx.run_id!r} has no saved LangGraph state to resume (was it run with "
                    "another state store, or its keys deleted?)."
                )
            graph_input: Any = self._graph_input(ctx)
        else:
            snapshot = await graph.aget_state(config)
            if isinstance(snapshot.values, dict):
                restored = as_messages(snapshot.values.get("messages"))
            if snapshot.interrupts and ctx.is_resuming:
                graph_input = Command(resume=_resume_value(ctx.resume_value, snapshot))
            elif snapshot.interrupts:  # re-delivered while waiting for a human: ask again
                return RunResult(interrupt=_interrupt_payload(snapshot))
            elif snapshot.next:  # a crash or a failed attempt: continue from the last super-step
                graph_input = None
            else:  # finished before (e.g. crashed after the last checkpoint): same result
                return self._result(snapshot)

        await self._drive(graph, graph_input, config, ctx, recorder, restored)

        snapshot = await graph.aget_state(config)
        if snapshot.interrupts:
            return await recorder.interrupted(_interrupt_payload(snapshot))
        return self._result(snapshot)

    async def _drive(
        self,
        graph: Pregel[Any, Any, Any, Any],
        graph_input: Any,
        config: RunnableConfig,
        ctx: RunContext,
        recorder: RunRecorder,
        restored: list[Any],
    ) -> None:
        """Run the graph with a `Translation` in its callbacks, racing it against the run's
        cancellation; the stream writer's items (`stream_mode="custom"`) become CUSTOM events.

        The graph runs in a task of its own; the handler queues recorder calls and this consumer
        awaits them in order, so the graph does not wait for its events to be emitted."""

        async def consume() -> None:
            loop = asyncio.get_running_loop()
            owner = threading.get_ident()
            queue: asyncio.Queue[tuple[Any, tuple[Any, ...], dict[str, Any]] | None] = asyncio.Queue()

            def put(method: Any, *args: Any, **kwargs: Any) -> None:
                if threading.get_ident() == owner:
                    queue.put_nowait((method, args, kwargs))
                else:  # a callback from sync code in a worker thread
                    loop.call_soon_threadsafe(queue.put_nowait, (method, args, kwargs))

            handler = (StreamingTranslation if self.stream_tokens else Translation)(recorder, put)
            handler.observe(restored)

            async def run_graph() -> None:
                stream = graph.astream(
                    graph_input, _with_handler(config, handler), durability=self.durability,
                    stream_mode="custom", **kwargs,
                )
                try:
                    async for item in stream:  # what nodes wrote with get_stream_writer()
                        put(recorder.custom, "stream", item, step=None)
                finally:
                    with contextlib.suppress(Exception):
                        await stream.aclose()  # type: ignore[attr-defined]

            kwargs = {k: v for k, v in self.stream_kwargs.items() if k not in _NOT_PASSED}
            running = asyncio.create_task(run_graph(), name=f"langgraph-graph:{ctx.run_id}")
            running.add_done_callback(lambda _: queue.put_nowait(None))  # after the graph's events
            try:
                while (call := await queue.get()) is not None:
                    await call[0](*call[1], **call[2])
                running.result()  # the graph's exception, if any
            finally:
                if not running.done():
                    running.cancel()
                with contextlib.suppress(BaseException):
                    await running

        if ctx.is_cancelled():
            raise RunCancelledError("Cancelled before the graph started.", run_id=ctx.run_id)
        work = asyncio.create_task(consume(), name=f"langgraph:{ctx.run_id}")
        cancelled = asyncio.create_task(ctx.wait_cancelled(), name=f"langgraph-cancel:{ctx.run_id}")
        try:
            await asyncio.wait({work, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError as outer:  # our own task: the runner's timeout or force-cancel
            await _stop(work, cancelled)
            with contextlib.suppress(Exception):
                await recorder.failed(outer)
            raise
        await _stop(work, cancelled)
        if not work.cancelled() and work.exception() is None:
            return
        if ctx.is_cancelled():
            error: BaseException = RunCancelledError("The run was cancelled.", run_id=ctx.run_id)
            await recorder.failed(error)
            raise error
        exc = RuntimeError("The graph's task was cancelled from inside.") if work.cancelled() else work.exception()
        assert exc is not None
        await recorder.failed(exc)
        if isinstance(exc, GraphRecursionError):
            raise LangGraphRecursionError(str(exc), run_id=ctx.run_id) from exc
        raise exc

    def _result(self, snapshot: StateSnapshot) -> RunResult:
        values = snapshot.values
        messages = as_messages(values.get("messages")) if isinstance(values, dict) else []
        final_messages = openai_messages(messages) if messages else None
        if self.output_mapper is not None:
            mapped = self.output_mapper(values)
            if isinstance(mapped, str):
                final_output: dict[str, Any] = {"response": mapped}
            elif isinstance(mapped, Mapping):
                final_output = dict(mapped)
            else:
                raise NonRetriableError(
                    f"output_mapper must return a dict or a string; got {type(mapped).__name__}."
                )
        elif messages:
            final_output = {"response": last_ai_text(messages)}
        else:
            response = values.get("response") if isinstance(values, dict) else None
            final_output = {
                "response": response if isinstance(response, str) else "",
                "state": to_jsonable(values),
            }
        return RunResult(final_output=final_output, final_messages=final_messages)


# -- helpers ----------------------------------------------------------------------------------

_NOT_PASSED = frozenset(
    {"include_names", "include_types", "include_tags", "exclude_names", "exclude_types", "exclude_tags",
     "stream_mode"}
)
"""`stream_kwargs` not passed to `graph.astream`: `astream_events`' filters (the events are not
filtered) and `stream_mode` (the runtime reads the stream writer's items)."""


def _with_handler(config: RunnableConfig, handler: BaseCallbackHandler) -> RunnableConfig:
    """`config` with `handler` added to its callbacks (as `astream_events` adds its own)."""
    callbacks = config.get("callbacks")
    updated: Any
    if callbacks is None:
        updated = [handler]
    elif isinstance(callbacks, list):
        updated = [*callbacks, handler]
    elif isinstance(callbacks, BaseCallbackManager):
        updated = callbacks.copy()
        updated.add_handler(handler, inherit=True)
    else:
        raise TypeError(f"`config['callbacks']` must be a list or a callback manager; got {type(callbacks).__name__}.")
    return cast("RunnableConfig", {**config, "callbacks": updated})



async def _stop(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks still running and wait for them to finish."""
    for task in tasks:
        if not task.done():
            task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


def _input_keys(graph: Pregel[Any, Any, Any, Any]) -> set[str]:
    """The keys of a graph's input: its builder's input schema, else its input channels."""
    builder = getattr(graph, "builder", None)
    schemas = getattr(builder, "schemas", None)
    input_schema = getattr(builder, "input_schema", None)
    if isinstance(schemas, dict) and input_schema in schemas:
        return {str(k) for k in schemas[input_schema]}
    channels = graph.input_channels
    return {channels} if isinstance(channels, str) else {str(c) for c in channels}


def _interrupt_payload(snapshot: StateSnapshot) -> dict[str, Any]:
    """The RUN_INTERRUPTED payload: the first question, and every pending interrupt."""
    nodes: dict[str, str] = {}
    for task in snapshot.tasks:
        for pending in task.interrupts:
            nodes[pending.id] = task.name
    interrupts = [
        {"id": pending.id, "value": to_jsonable(pending.value), "node": nodes.get(pending.id)}
        for pending in snapshot.interrupts
    ]
    first = interrupts[0]
    return {"question": first["value"], "interrupt_id": first["id"], "node": first["node"], "interrupts": interrupts}


def _resume_value(answer: Any, snapshot: StateSnapshot) -> Any:
    """`Command(resume=...)` value: the answer as given, or, when several interrupts wait and the
    answer is not already a `{interrupt_id: answer}` map, the same answer for each."""
    ids = [pending.id for pending in snapshot.interrupts]
    if len(ids) <= 1:
        return answer
    if isinstance(answer, dict) and answer and set(answer) <= set(ids):
        return answer
    return dict.fromkeys(ids, answer)
