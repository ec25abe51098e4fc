"""Translate LangGraph's `astream_events(version="v2")` stream into the runtime's event grammar.

One `EventTranslator` serves one run (it holds that run's `RunContext` and bookkeeping), so many
runs in one process never share state. The mapping:

| LangGraph (`astream_events` v2)                    | runtime event                                  |
|----------------------------------------------------|------------------------------------------------|
| `on_chain_start` of a graph node                   | STEP_STARTED `{name, kind: "node"}`            |
| `on_chain_end` of a graph node                     | STEP_COMPLETED `{name, kind: "node"}`          |
| `on_chat_model_start`                              | LLM_CALL_STARTED `{model}`                     |
| `on_chat_model_stream` (text chunks)               | ASSISTANT_DELTA `{text}`                       |
| `on_chat_model_end`                                | LLM_CALL_COMPLETED `{model, usage}`, then      |
|                                                    | ASSISTANT_MESSAGE `{content}` if it has text   |
| `on_tool_start`                                    | TOOL_CALL `{tool_call_id, name, arguments}`    |
| `on_tool_end` (ToolMessage, status "error" too)    | TOOL_RESULT `{tool_call_id, name, result}` or  |
|                                                    | `{..., error}`                                 |
| `on_tool_error`                                    | TOOL_RESULT `{tool_call_id, name, error}`      |
| exception out of the graph                         | LLM_CALL_FAILED / STEP_FAILED for open ones    |

A node is a chain event whose name equals `metadata["langgraph_node"]` and that carries a
`graph:step:<n>` tag; the `__start__` pseudo-node, routers, prompts and channel writes are not
steps. A subgraph's nodes are steps nested in the step of the node that runs the subgraph. Node outputs are scanned too, so an assistant message produced without a model call, or a
tool message produced without a tool run (ToolNode answers an unknown tool name with an error
message without running anything), still yields ASSISTANT_MESSAGE or TOOL_CALL + TOOL_RESULT.

`astream_events` does not carry the model's tool-call id on `on_tool_start`; it is recovered from
the `ToolCall`s of the assistant messages seen so far (model outputs, node inputs, the restored
state), matching on tool name and arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent_runtime_core.events.base import EventType, tool_arguments
from agent_runtime_core.runtime import ErrorInfo

if TYPE_CHECKING:
    from agent_runtime_core.runtime import RunContext

__all__ = ["EventTranslator", "message_text", "tool_arguments"]


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


class EventTranslator:
    """Turns one run's `astream_events` v2 stream into `ctx.emit` calls, in order.

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
        """Translate one `astream_events` v2 event (others are ignored)."""
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
