"""Translate a LangGraph run's callbacks into the runtime's event grammar.

The events come from `CallbackBridge`, a LangChain callback handler added to the run's config:
it sees the same callbacks LangGraph's `astream_events(version="v2")` is built on and hands
`EventTranslator` the few it reads, shaped as `astream_events` v2 events, without the cost of
building and queueing an event for every runnable of the graph. `EventTranslator.handle` also
accepts real `astream_events` v2 events.

One `EventTranslator` serves one run (it holds that run's `RunContext` and bookkeeping), so many
runs in one process never share state. The mapping:

| LangGraph (callbacks / `astream_events` v2)        | runtime event                                  |
|----------------------------------------------------|------------------------------------------------|
| `on_chain_start` of a graph node                   | STEP_STARTED `{name, kind: "node"}`            |
| `on_chain_end` of a graph node                     | STEP_COMPLETED `{name, kind: "node"}`          |
| `on_chat_model_start`                              | LLM_CALL_STARTED `{model}`                     |
| `on_llm_new_token` / `on_chat_model_stream` (text) | ASSISTANT_DELTA `{text}`                       |
| `on_llm_end` / `on_chat_model_end`                 | LLM_CALL_COMPLETED `{model, usage}`, then      |
|                                                    | ASSISTANT_MESSAGE `{content}` if it has text   |
| `on_tool_start`                                    | TOOL_CALL `{tool_call_id, name, arguments}`    |
| `on_tool_end` (ToolMessage, status "error" too)    | TOOL_RESULT `{tool_call_id, name, result}` or  |
|                                                    | `{..., error}`                                 |
| `on_tool_error`                                    | TOOL_RESULT `{tool_call_id, name, error}`      |
| exception out of the graph                         | LLM_CALL_FAILED / STEP_FAILED for open ones    |

A node is a chain run whose name equals `metadata["langgraph_node"]` and that carries a
`graph:step:<n>` tag; the `__start__` pseudo-node, routers, prompts and channel writes are not
steps. A subgraph's nodes are steps nested in the step of the node that runs the subgraph. Node outputs are scanned too, so an assistant message produced without a model call, or a
tool message produced without a tool run (ToolNode answers an unknown tool name with an error
message without running anything), still yields ASSISTANT_MESSAGE or TOOL_CALL + TOOL_RESULT.

A tool's TOOL_CALL carries the model's tool-call id: the one LangChain passes to `on_tool_start`
when the tool is run with a `ToolCall`, else (`astream_events` does not carry it) the one
recovered from the `ToolCall`s of the assistant messages seen so far (model outputs, node inputs,
the restored state), matching on tool name and arguments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk
from langchain_core.tracers._streaming import _StreamingCallbackHandler

from agent_runtime_core.errors import ErrorInfo
from agent_runtime_core.events.base import EventType, tool_arguments

if TYPE_CHECKING:
    from langchain_core.outputs import LLMResult

    from agent_runtime_core.context import RunContext

__all__ = ["CallbackBridge", "EventTranslator", "message_text", "tool_arguments"]

_T = TypeVar("_T")


def message_text(message: Any) -> str:
    """The plain text of a LangChain message (text content blocks joined; '' if none)."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return ""


def _jsonable(value: Any) -> Any:
    """`value` made JSON-safe (LangChain messages and other objects become dicts or strings)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        try:
            return _jsonable(model_dump())
        except Exception:
            pass
    return str(value)


def _messages_in(value: Any) -> list[Any]:
    """LangChain messages found in a node's input or output (dict state, Command, list, Send)."""
    found: list[Any] = []

    def walk(item: Any, depth: int) -> None:
        if depth > 4 or item is None:
            return
        if _is_message(item):
            found.append(item)
        elif isinstance(item, dict):
            messages = item.get("messages")
            if messages is not None:
                walk(messages, depth + 1)
            tool_call = item.get("tool_call")
            if isinstance(tool_call, dict) and tool_call.get("id"):
                found.append(tool_call)  # ToolNode's Send payload: the call it is about to run
            state = item.get("state")
            if isinstance(state, dict):
                walk(state, depth + 1)
        elif isinstance(item, list | tuple):
            for element in item:
                walk(element, depth + 1)
        else:
            update = getattr(item, "update", None)  # langgraph.types.Command
            if update is not None and type(item).__name__ == "Command":
                walk(update, depth + 1)
            arg = getattr(item, "arg", None)  # langgraph.types.Send
            if arg is not None and type(item).__name__ == "Send":
                walk(arg, depth + 1)

    walk(value, 0)
    return found


def _is_message(item: Any) -> bool:
    return isinstance(getattr(item, "type", None), str) and hasattr(item, "content") and hasattr(
        item, "additional_kwargs"
    )


def _is_node_event(event: dict[str, Any]) -> bool:
    name = event.get("name")
    if not isinstance(name, str) or name.startswith("__"):
        return False
    if (event.get("metadata") or {}).get("langgraph_node") != name:
        return False
    return any(tag.startswith("graph:step:") for tag in event.get("tags") or ())


def _is_node(name: str, tags: list[str] | None, metadata: dict[str, Any] | None) -> bool:
    if not name or name.startswith("__") or not metadata or metadata.get("langgraph_node") != name:
        return False
    return any(tag.startswith("graph:step:") for tag in tags or ())


def _run_name(name: str | None, serialized: dict[str, Any] | None) -> str:
    """A run's name as `astream_events` gives it: the run name, else the serialized one."""
    if name is not None:
        return name
    if serialized:
        if "name" in serialized:
            return str(serialized["name"])
        if "id" in serialized:
            return str(serialized["id"][-1])
    return "Unnamed"


class CallbackBridge(BaseCallbackHandler, _StreamingCallbackHandler[Any]):
    """A LangChain callback handler that passes the events `EventTranslator` reads to `sink`,
    shaped as `astream_events` v2 events, in the order the callbacks fire.

    It sees the callbacks `astream_events` is built on, and being a streaming handler (as
    `astream_events`' own is) it makes chat models stream their tokens and LangGraph run its nodes
    the same way. Unlike `astream_events` it builds an event only for graph nodes, chat-model
    calls and tool runs, and passes other runnables' callbacks by at the cost of a dict write.
    Callbacks run inline on the caller's thread (a worker thread for sync code), so `sink` must
    be thread-safe.

    Args:
        sink: Receives each event (a dict with `event`, `name`, `run_id`, `tags`, `metadata`,
            `parent_ids`, `data`).
    """

    run_inline = True  # called in order, in place: no executor hop per callback

    def __init__(self, sink: Callable[[dict[str, Any]], None]) -> None:
        self._sink = sink
        self._parent: dict[UUID, UUID | None] = {}  # run -> its parent run (every run seen)
        self._nodes: set[UUID] = set()  # graph-node runs started and not ended
        self._models: dict[UUID, dict[str, Any]] = {}  # chat-model run -> its event base
        self._tools: dict[UUID, dict[str, Any]] = {}  # tool run -> its event base

    # -- streaming-handler protocol: pass outputs through untouched -------------------------------

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[_T]) -> AsyncIterator[_T]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[_T]) -> Iterator[_T]:
        return output

    def _parent_ids(self, run_id: UUID) -> list[str]:
        """The run's ancestors, root first (as `astream_events` gives them)."""
        ids: list[str] = []
        parent = self._parent.get(run_id)
        while parent is not None and len(ids) < 1000:
            ids.append(str(parent))
            parent = self._parent.get(parent)
        return ids[::-1]

    def _base(
        self, run_id: UUID, name: str, tags: list[str] | None, metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {"name": name, "run_id": str(run_id), "tags": tags or [], "metadata": metadata or {}}

    # -- chains (graph nodes) -------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id
        if not metadata or "langgraph_node" not in metadata:
            return
        name = _run_name(kwargs.get("name"), serialized)
        if not _is_node(name, tags, metadata):
            return
        self._nodes.add(run_id)
        event = self._base(run_id, name, tags, metadata)
        event["event"] = "on_chain_start"
        event["parent_ids"] = self._parent_ids(run_id)
        event["data"] = {"input": inputs} if inputs != {"input": ""} else {}
        self._sink(event)

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self._nodes:
            self._nodes.discard(run_id)
            self._sink({"event": "on_chain_end", "run_id": str(run_id), "data": {"output": outputs}})

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._nodes.discard(run_id)  # no event: the step stays open until the run's end closes it

    # -- chat models ----------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id
        base = self._base(run_id, _run_name(kwargs.get("name"), serialized), tags, metadata)
        self._models[run_id] = base
        self._sink({**base, "event": "on_chat_model_start", "data": {"input": {"messages": messages}}})

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id  # a text-completion model: no event

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, chunk: Any = None, run_id: UUID, **kwargs: Any
    ) -> None:
        base = self._models.get(run_id)
        if base is None:  # not a chat model
            return
        message = getattr(chunk, "message", None) if chunk is not None else None
        if message is None:
            if not token:
                return
            message = AIMessageChunk(content=token)
        elif not message_text(message):
            return  # tool-call argument chunks, the usage chunk: no text, no event
        self._sink({**base, "event": "on_chat_model_stream", "data": {"chunk": message}})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        base = self._models.pop(run_id, None)
        if base is None:
            return
        output: Any = {}
        for generations in response.generations:
            if generations:
                output = getattr(generations[0], "message", output)
                break
        self._sink({**base, "event": "on_chat_model_end", "data": {"output": output}})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._models.pop(run_id, None)  # no event: the run's end reports the call failed

    # -- tools ----------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id
        base = self._base(run_id, _run_name(kwargs.get("name"), serialized), tags, metadata)
        self._tools[run_id] = base
        data: dict[str, Any] = {"input": inputs or {}}
        if kwargs.get("tool_call_id"):
            data["tool_call_id"] = str(kwargs["tool_call_id"])
        self._sink({**base, "event": "on_tool_start", "data": data})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        base = self._tools.pop(run_id, None)
        if base is not None:
            self._sink({**base, "event": "on_tool_end", "data": {"output": output}})

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        base = self._tools.pop(run_id, None)
        if base is not None:
            self._sink({**base, "event": "on_tool_error", "data": {"error": error}})


class EventTranslator:
    """Turns one run's events (from `CallbackBridge`, or `astream_events` v2) into `ctx.emit`
    calls, in order.

    Args:
        ctx: The run's context (events go to it only).
    """

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._steps: dict[str, str] = {}  # LangChain run id of a node -> node name (open steps)
        self._parents: set[str] = set()  # open steps with nested steps (subgraph nodes)
        self._llm: dict[str, tuple[str, str | None]] = {}  # run id -> (model, node) (open calls)
        self._tools: dict[str, tuple[str, str, str | None]] = {}  # run id -> (call id, name, node)
        self._pending_calls: dict[str, dict[str, Any]] = {}  # call id -> ToolCall not yet run
        self._called: set[str] = set()  # call ids with a TOOL_CALL event
        self._answered: set[str] = set()  # call ids with a TOOL_RESULT event (or already answered)
        self._messages_seen: set[str] = set()  # ids of assistant messages with ASSISTANT_MESSAGE

    # -- seeding ------------------------------------------------------------------------------

    def observe_messages(self, messages: Iterable[Any]) -> None:
        """Learn tool calls and answers from messages (the restored state of a resumed run), so a
        tool that runs after the resume is reported with the model's call id."""
        for message in messages:
            self._learn(message, emit=False)

    def _learn(self, item: Any, *, emit: bool) -> None:
        if isinstance(item, dict):  # a ToolCall dict from a Send payload
            call_id = str(item["id"])
            if call_id not in self._answered and call_id not in self._called:
                self._pending_calls.setdefault(call_id, item)
            return
        kind = item.type
        if kind in ("ai", "AIMessageChunk"):
            for call in getattr(item, "tool_calls", None) or []:
                call_id = call.get("id")
                if call_id and call_id not in self._answered and call_id not in self._called:
                    self._pending_calls.setdefault(str(call_id), dict(call))
            if not emit and item.id:
                self._messages_seen.add(str(item.id))
        elif kind == "tool":
            call_id = str(getattr(item, "tool_call_id", "") or "")
            if not emit:
                self._answered.add(call_id)
                self._pending_calls.pop(call_id, None)

    # -- dispatch -----------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        """Translate one event (`astream_events` v2 shape; others are ignored)."""
        kind = event.get("event")
        if kind == "on_chain_start":
            if _is_node_event(event):
                await self._node_start(event)
        elif kind == "on_chain_end":
            if event.get("run_id") in self._steps:
                await self._node_end(event)
        elif kind == "on_chat_model_start":
            await self._llm_start(event)
        elif kind == "on_chat_model_stream":
            await self._llm_stream(event)
        elif kind == "on_chat_model_end":
            await self._llm_end(event)
        elif kind == "on_tool_start":
            await self._tool_start(event)
        elif kind == "on_tool_end":
            await self._tool_end(event)
        elif kind == "on_tool_error":
            await self._tool_error(event)

    @staticmethod
    def _node_of(event: dict[str, Any]) -> str | None:
        node = (event.get("metadata") or {}).get("langgraph_node")
        return node if isinstance(node, str) else None

    async def _node_start(self, event: dict[str, Any]) -> None:
        name = str(event["name"])
        self._parents.update(p for p in event.get("parent_ids") or () if p in self._steps)
        self._steps[str(event["run_id"])] = name
        for item in _messages_in((event.get("data") or {}).get("input")):
            self._learn(item, emit=False)  # what a node receives is history: learn, emit nothing
        payload: dict[str, Any] = {"name": name, "kind": "node"}
        step_index = (event.get("metadata") or {}).get("langgraph_step")
        if isinstance(step_index, int):
            payload["superstep"] = step_index
        await self.ctx.emit(EventType.STEP_STARTED, payload, step=name, span_id=str(event["run_id"]))

    async def _node_end(self, event: dict[str, Any]) -> None:
        run_id = str(event["run_id"])
        name = self._steps[run_id]
        if run_id in self._parents:  # a subgraph: its own nodes reported what it produced
            self._parents.discard(run_id)
        else:
            for item in _messages_in((event.get("data") or {}).get("output")):
                if not isinstance(item, dict):
                    await self._node_output_message(item, name)
        del self._steps[run_id]
        await self.ctx.emit(
            EventType.STEP_COMPLETED, {"name": name, "kind": "node"}, step=name, span_id=run_id
        )

    async def _node_output_message(self, message: Any, node: str) -> None:
        """Emit what a node's output holds that no model or tool event reported."""
        if message.type in ("ai", "AIMessageChunk"):
            self._learn(message, emit=True)
            text = message_text(message)
            if text and (message.id is None or str(message.id) not in self._messages_seen):
                if message.id is not None:
                    self._messages_seen.add(str(message.id))
                await self.ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": text}, step=node)
        elif message.type == "tool":
            call_id = str(getattr(message, "tool_call_id", "") or "")
            if not call_id or call_id in self._answered:
                return
            name = str(getattr(message, "name", None) or "")
            if call_id not in self._called:
                call = self._pending_calls.pop(call_id, None) or {}
                name = name or str(call.get("name", ""))
                self._called.add(call_id)
                await self.ctx.emit(
                    EventType.TOOL_CALL,
                    {"tool_call_id": call_id, "name": name, "arguments": tool_arguments(call.get("args", {}))},
                    step=node,
                )
            await self._emit_tool_result(call_id, name, message, node, span_id=None)

    # -- model calls --------------------------------------------------------------------------

    async def _llm_start(self, event: dict[str, Any]) -> None:
        metadata = event.get("metadata") or {}
        model = str(metadata.get("ls_model_name") or event.get("name") or "unknown")
        node = self._node_of(event)
        self._llm[str(event["run_id"])] = (model, node)
        payload: dict[str, Any] = {"model": model}
        if metadata.get("ls_provider"):
            payload["provider"] = str(metadata["ls_provider"])
        await self.ctx.emit(EventType.LLM_CALL_STARTED, payload, step=node, span_id=str(event["run_id"]))

    async def _llm_stream(self, event: dict[str, Any]) -> None:
        chunk = (event.get("data") or {}).get("chunk")
        text = message_text(chunk) if chunk is not None else ""
        if text:
            await self.ctx.emit(
                EventType.ASSISTANT_DELTA, {"text": text}, step=self._node_of(event), span_id=str(event["run_id"])
            )

    async def _llm_end(self, event: dict[str, Any]) -> None:
        run_id = str(event["run_id"])
        started_model, node = self._llm.pop(run_id, (None, self._node_of(event)))
        output = (event.get("data") or {}).get("output")
        usage = getattr(output, "usage_metadata", None) or {}
        response_metadata = getattr(output, "response_metadata", None) or {}
        model = str(response_metadata.get("model_name") or started_model or event.get("name") or "unknown")
        payload: dict[str, Any] = {
            "model": model,
            "usage": {
                "input_tokens": int(usage.get("input_tokens") or 0),
                "output_tokens": int(usage.get("output_tokens") or 0),
            },
        }
        if response_metadata.get("finish_reason"):
            payload["finish_reason"] = str(response_metadata["finish_reason"])
        await self.ctx.emit(EventType.LLM_CALL_COMPLETED, payload, step=node, span_id=run_id)
        if output is None or not _is_message(output):
            return
        self._learn(output, emit=True)
        text = message_text(output)
        if text:
            if output.id is not None:
                self._messages_seen.add(str(output.id))
            await self.ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": text}, step=node, span_id=run_id)

    # -- tools --------------------------------------------------------------------------------

    def _claim_call(self, name: str, arguments: Any) -> str | None:
        candidates = [(cid, c) for cid, c in self._pending_calls.items() if c.get("name") == name]
        for call_id, call in candidates:
            if call.get("args") == arguments:
                del self._pending_calls[call_id]
                return call_id
        if candidates:
            call_id = candidates[0][0]
            del self._pending_calls[call_id]
            return call_id
        return None

    async def _tool_start(self, event: dict[str, Any]) -> None:
        run_id = str(event["run_id"])
        name = str(event.get("name") or "tool")
        raw = (event.get("data") or {}).get("input")
        arguments = tool_arguments(raw)
        given = (event.get("data") or {}).get("tool_call_id")  # LangChain's own (CallbackBridge)
        if given:
            call_id = str(given)
            self._pending_calls.pop(call_id, None)
        else:
            call_id = self._claim_call(name, arguments) or f"lc-{run_id}"
        node = self._node_of(event)
        self._tools[run_id] = (call_id, name, node)
        self._called.add(call_id)
        await self.ctx.emit(
            EventType.TOOL_CALL,
            {"tool_call_id": call_id, "name": name, "arguments": _jsonable(arguments)},
            step=node,
            span_id=run_id,
        )

    async def _tool_end(self, event: dict[str, Any]) -> None:
        run_id = str(event["run_id"])
        if run_id not in self._tools:
            return
        call_id, name, node = self._tools.pop(run_id)
        output = (event.get("data") or {}).get("output")
        for item in _messages_in(output):  # a tool may return a Command carrying its ToolMessage
            if not isinstance(item, dict) and item.type == "tool":
                output = item
                break
        await self._emit_tool_result(call_id, name, output, node, span_id=run_id)

    async def _tool_error(self, event: dict[str, Any]) -> None:
        run_id = str(event["run_id"])
        if run_id not in self._tools:
            return
        call_id, name, node = self._tools.pop(run_id)
        error = (event.get("data") or {}).get("error")
        self._answered.add(call_id)
        await self.ctx.emit(
            EventType.TOOL_RESULT,
            {"tool_call_id": call_id, "name": name, "error": _error_text(error)},
            step=node,
            span_id=run_id,
        )

    async def _emit_tool_result(
        self, call_id: str, name: str, output: Any, node: str | None, *, span_id: str | None
    ) -> None:
        self._answered.add(call_id)
        if output is not None and _is_message(output) and output.type == "tool":
            text = message_text(output) if not isinstance(output.content, str) else output.content
            if not text and not isinstance(output.content, str):
                text = json.dumps(_jsonable(output.content), ensure_ascii=False)
            key = "error" if getattr(output, "status", "success") == "error" else "result"
        else:
            text = output if isinstance(output, str) else json.dumps(_jsonable(output), ensure_ascii=False)
            key = "result"
        await self.ctx.emit(
            EventType.TOOL_RESULT, {"tool_call_id": call_id, "name": name, key: text}, step=node, span_id=span_id
        )

    # -- endings ------------------------------------------------------------------------------

    async def close_failed(self, exc: BaseException) -> None:
        """Close what the failure left open: tools get an error result, model calls
        LLM_CALL_FAILED (LangGraph's event stream has no error event for them), nodes
        STEP_FAILED, innermost first."""
        info = ErrorInfo.from_exception(exc).to_dict()
        for run_id, (call_id, name, node) in list(self._tools.items())[::-1]:
            self._answered.add(call_id)
            await self.ctx.emit(
                EventType.TOOL_RESULT,
                {"tool_call_id": call_id, "name": name, "error": info["message"]},
                step=node,
                span_id=run_id,
            )
        self._tools.clear()
        for run_id, (model, node) in list(self._llm.items())[::-1]:
            await self.ctx.emit(EventType.LLM_CALL_FAILED, {"model": model, "error": info}, step=node, span_id=run_id)
        self._llm.clear()
        for run_id, name in list(self._steps.items())[::-1]:
            await self.ctx.emit(
                EventType.STEP_FAILED, {"name": name, "kind": "node", "error": info}, step=name, span_id=run_id
            )
        self._steps.clear()
        self._parents.clear()

    async def close_interrupted(self) -> None:
        """Close the nodes a human-in-the-loop `interrupt()` paused: STEP_COMPLETED with
        `interrupted: true` (the node runs again from its start on resume)."""
        for run_id, name in list(self._steps.items())[::-1]:
            await self.ctx.emit(
                EventType.STEP_COMPLETED,
                {"name": name, "kind": "node", "interrupted": True},
                step=name,
                span_id=run_id,
            )
        self._steps.clear()
        self._parents.clear()
        self._llm.clear()
        self._tools.clear()


def _error_text(error: Any) -> str:
    if isinstance(error, BaseException):
        return str(error) or type(error).__name__
    return str(error) if error is not None else "tool failed"
