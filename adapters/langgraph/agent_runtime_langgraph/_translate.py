"""A LangGraph run's LangChain callbacks, reported to the run's `RunRecorder`.

| callback | recorder call |
| --- | --- |
| `on_chain_start` / `on_chain_end` of a graph node | `step_started(node, "node", superstep)` / `step_completed` |
| `on_chain_error` of a node | `step_failed` (an `interrupt()`: left open for `interrupted`; a `Command` to the parent graph: `step_completed`) |
| `on_chat_model_start` (`on_llm_start`) / `on_llm_end` / `on_llm_error` | `llm_call_started(model, provider)` / `llm_call_completed(usage, finish_reason)` + `assistant_message` / `llm_call_failed` |
| `on_llm_new_token` (text) | `llm_delta` |
| `on_tool_start` / `on_tool_end` / `on_tool_error` | `tool_call` (the model's call id) / `tool_result` (`error` for a `status="error"` message) |
| `on_custom_event` (`adispatch_custom_event`) | `custom(name, data)` |
| a node's output: AI message with text no model call reported, tool message (or OpenAI-style tool dict, as handoffs return) no tool run reported | `assistant_message`; `tool_result` with the call's name and arguments (the recorder opens the TOOL_CALL first) |

A node is a chain run whose name is `metadata["langgraph_node"]`, tagged `graph:step:<n>`; the
`__start__` pseudo-node, routers and channel writes are not steps. A subgraph's nodes are steps
nested in the step of the node that runs it (its output, which repeats theirs, is not scanned).
Steps, model calls and tool runs are keyed by their LangChain run ids, each event tagged with the
node it happens in (the nearest node among its ancestors), so parallel nodes stay apart.

**Order.** LangChain calls handlers inline, in the order things happen, on the graph's task or on
a worker thread (sync nodes); the handler turns each callback into a recorder call at once and
queues it (`put`), and the run's consumer task awaits them in order (`runtime.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from langgraph.errors import GraphBubbleUp, GraphInterrupt

from agent_runtime_core.integration import RunRecorder, message_text

from ._convert import messages_in

if TYPE_CHECKING:
    from langchain_core.outputs import LLMResult

__all__ = ["Put", "StreamingTranslation", "Translation"]

_T = TypeVar("_T")
Put = Callable[..., None]
"""`put(recorder_method, *args, **kwargs)`: queue one recorder call (thread-safe)."""


class Translation(BaseCallbackHandler):
    """One run's callbacks in, queued recorder calls out. Chat models called under it do not
    stream (`StreamingTranslation` makes them).

    Args:
        recorder: The run's recorder.
        put: Queues a recorder call; called in callback order, from any thread.
    """

    run_inline = True  # called in order, in place: no executor hop per callback

    def __init__(self, recorder: RunRecorder, put: Put) -> None:
        self.rec = recorder
        self._put = put
        self._parent: dict[UUID, UUID | None] = {}  # every run seen -> its parent run
        self._nodes: dict[UUID, str] = {}  # open node runs -> node name
        self._subgraphs: set[UUID] = set()  # open node runs with nodes inside (subgraph nodes)
        self._models: set[UUID] = set()  # open chat-model runs
        self._tools: dict[UUID, str] = {}  # open tool runs -> tool call id
        self._calls: dict[str, dict[str, Any]] = {}  # ToolCalls seen, by id (name, args)
        self._unclaimed: dict[str, dict[str, Any]] = {}  # those no tool run has reported yet
        self._messages_seen: set[str] = set()  # ids of AI messages already reported

    def observe(self, messages: Iterable[Any]) -> None:
        """Learn the tool calls and messages of a restored state, so a run continued after a
        resume reports tool messages with their call's name and arguments, and only new ones."""
        for message in messages:
            self._learn(message)
            if getattr(message, "id", None):
                self._messages_seen.add(str(message.id))

    def _learn(self, message: Any) -> None:
        for call in getattr(message, "tool_calls", None) or ():
            if call.get("id"):
                self._calls[str(call["id"])] = call
                self._unclaimed.setdefault(str(call["id"]), call)

    def _step_of(self, run_id: UUID | None) -> str | None:
        """The node a run happens in: the nearest node among the run and its ancestors."""
        for _ in range(1000):
            if run_id is None:
                return None
            if run_id in self._nodes:
                return str(run_id)
            run_id = self._parent.get(run_id)
        return None

    # -- nodes ----------------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
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
        name = kwargs.get("name") or (serialized or {}).get("name")
        if name != metadata["langgraph_node"] or name.startswith("__"):
            return
        if not any(tag.startswith("graph:step:") for tag in tags or ()):
            return
        parent = self._step_of(parent_run_id)
        if parent is not None:
            self._subgraphs.add(UUID(parent))
        self._nodes[run_id] = name
        step = metadata.get("langgraph_step")
        extra = {"superstep": step} if isinstance(step, int) else {}
        self._put(self.rec.step_started, name, "node", step_id=str(run_id), parent=parent, **extra)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self._nodes:
            self._node_output(run_id, outputs)
            self._put(self.rec.step_completed, str(run_id))
            del self._nodes[run_id]

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id not in self._nodes:
            return
        if isinstance(error, GraphInterrupt):
            return  # paused for a human: `interrupted()` closes it at the run's end
        if isinstance(error, GraphBubbleUp):  # a Command to the parent graph (a handoff)
            self._node_output(run_id, error.args)
            self._put(self.rec.step_completed, str(run_id))
        else:
            self._put(self.rec.step_failed, str(run_id), error)
        del self._nodes[run_id]

    def _node_output(self, run_id: UUID, output: Any) -> None:
        """Report what a node's output holds that no model call or tool run reported."""
        if run_id in self._subgraphs:  # its nodes reported it
            self._subgraphs.discard(run_id)
            return
        step = str(run_id)
        for message in messages_in(output):
            if message.type == "ai":
                self._learn(message)
                if message.id is None or str(message.id) not in self._messages_seen:
                    if message.id is not None:
                        self._messages_seen.add(str(message.id))
                    self._put(self.rec.assistant_message, message, step=step)
            elif message.type == "tool":
                call_id = str(getattr(message, "tool_call_id", "") or "")
                if call_id:
                    call = self._unclaimed.pop(call_id, None) or self._calls.get(call_id) or {}
                    name = getattr(message, "name", None) or call.get("name")
                    self._put(self.rec.tool_result, call_id, **_result(message), name=name,
                              arguments=call.get("args"), step=step)

    # -- model calls ----------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id
        self._models.add(run_id)
        metadata = metadata or {}
        model = str(metadata.get("ls_model_name") or kwargs.get("name") or (serialized or {}).get("name") or "unknown")
        provider = str(metadata["ls_provider"]) if metadata.get("ls_provider") else None
        self._put(self.rec.llm_call_started, model, call_id=str(run_id), step=self._step_of(parent_run_id),
                  provider=provider)

    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], **kwargs: Any) -> None:
        """A text-completion model's request: one LLM call as a chat model's (its text is not an
        assistant message until a node puts it in the state)."""
        self.on_chat_model_start(serialized, [], **kwargs)

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self._models:
            message = getattr(chunk, "message", None)
            text = message_text(message) if message is not None else token if isinstance(token, str) else ""
            if text:
                self._put(self.rec.llm_delta, str(run_id), text)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id not in self._models:
            return
        self._models.discard(run_id)
        output = next((g[0] for g in response.generations if g), None)
        message = getattr(output, "message", None)
        meta = getattr(message, "response_metadata", None) or (output.generation_info if output else None) or {}
        usage = getattr(message, "usage_metadata", None) or (response.llm_output or {}).get("token_usage")
        self._put(self.rec.llm_call_completed, str(run_id), usage=usage,
                  model=meta.get("model_name"), finish_reason=meta.get("finish_reason"))
        if message is not None:
            self._learn(message)
            if message.id is not None:
                self._messages_seen.add(str(message.id))
            self._put(self.rec.assistant_message, message, step=self._step_of(run_id), call_id=str(run_id))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self._models:
            self._models.discard(run_id)
            self._put(self.rec.llm_call_failed, str(run_id), error)

    # -- tools ----------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parent[run_id] = parent_run_id
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        arguments = inputs if inputs is not None else input_str
        call_id = str(kwargs["tool_call_id"]) if kwargs.get("tool_call_id") else self._claim(name, arguments)
        self._unclaimed.pop(call_id, None)
        self._tools[run_id] = call_id
        self._put(self.rec.tool_call, name, arguments, call_id=call_id, step=self._step_of(parent_run_id))

    def _claim(self, name: str, arguments: Any) -> str:
        """The model's id of a call run without one: the unclaimed call of that tool with these
        arguments (else its first unclaimed call, else a new id)."""
        same = [cid for cid, call in self._unclaimed.items() if call.get("name") == name]
        exact = [cid for cid in same if self._unclaimed[cid].get("args") == arguments]
        return (exact or same or [self.rec.new_id("call")])[0]

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call_id = self._tools.pop(run_id, None)
        if call_id is not None:
            tool_messages = [m for m in messages_in(output) if m.type == "tool"]  # a Command's message
            self._put(self.rec.tool_result, call_id, **_result(tool_messages[0] if tool_messages else output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call_id = self._tools.pop(run_id, None)
        if call_id is not None:
            self._put(self.rec.tool_result, call_id, error=error)

    # -- custom events --------------------------------------------------------------------------

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._put(self.rec.custom, name, data, step=self._step_of(run_id))


class StreamingTranslation(Translation, _StreamingCallbackHandler[Any]):
    """`Translation` that makes chat models stream their tokens (as `astream_events` does), so
    `on_llm_new_token` reports ASSISTANT_DELTA."""

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[_T]) -> AsyncIterator[_T]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[_T]) -> Iterator[_T]:
        return output


def _result(output: Any) -> dict[str, Any]:
    """`tool_result`'s `result=` of a tool's output, or its `error=` for a failed tool message."""
    if getattr(output, "type", None) != "tool":
        return {"result": output}
    if getattr(output, "status", "success") == "error":
        return {"error": message_text(output) or str(output.content)}
    return {"result": output.content if isinstance(output.content, str) else output}
