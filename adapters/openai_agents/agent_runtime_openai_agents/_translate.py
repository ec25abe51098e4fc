"""The Agents SDK's signals of one run, reported to the run's `RunRecorder`.

| SDK signal | recorder call |
| --- | --- |
| `agent_updated_stream_event` | `step_completed` of the previous agent, `step_started(agent, "agent")` |
| `RunHooks.on_llm_start` / `on_llm_end` | `llm_call_started(model)` / `llm_call_completed(usage, response_id)` |
| raw `response.output_text.delta` | `llm_delta` |
| `run_item_stream_event` `tool_called` / `tool_output` | `tool_call` / `tool_result` (`error` from the per-run `tool_error_formatter`) |
| `run_item_stream_event` `message_output_created` | `assistant_message` |
| `run_item_stream_event` `handoff_occured` | a `handoff` step, opened and closed |
| a nested run (an agent used as a tool, a guardrail's own `Runner.run`) | its agent step, its model calls and tools, through hooks the SDK's default runner adds |

**Order.** The SDK queues stream events and calls hooks from its run task, while the stream is read
by another task, and it queues a reply's items before it calls `on_llm_end`. So each hook first
waits until the stream consumer has handled everything queued before it (`drain`), and a reply's
items are held until `on_llm_end` has reported the call's end.

**Nested runs.** Hooks given to `Runner.run_streamed` reach only that run; an agent used as a tool,
or a guardrail that runs an agent, starts runs of its own (`Runner.run`). `install_nested_runner`
wraps the SDK's default `AgentRunner` once per process: inside one of our runs (a context variable
says which) it adds that run's nested hooks to every run started there (after the run's own
hooks, if any); elsewhere it passes every call through unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

from agents import Agent, ModelResponse, RunHooks, RunResultStreaming
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.run_config import ToolErrorFormatterArgs
from agents.stream_events import StreamEvent

from agent_runtime_core.integration import RunRecorder, message_text

from ._convert import jsonable
from ._state import Saved, call_id_of, field

__all__ = ["FORMATTER_SEES_TOOL_EXCEPTIONS", "Translation", "install_nested_runner"]

_DEFAULT_TOOL_ERROR_PREFIX = "An error occurred while running the tool."
"""How the SDK's `default_tool_error_function` starts the text it gives the model."""

FORMATTER_SEES_TOOL_EXCEPTIONS = "tool_exception" in str(ToolErrorFormatterArgs.__dataclass_fields__["kind"].type)
"""Whether this SDK calls `RunConfig.tool_error_formatter` for tool exceptions (0.2x later
releases do; older ones only for rejections and unknown tools)."""

_ACTIVE: contextvars.ContextVar[Translation | None] = contextvars.ContextVar("agent_runtime_openai_agents_run", default=None)


class Translation:
    """One run's translation: stream events and hooks in, recorder calls out."""

    def __init__(self, recorder: RunRecorder, saved: Saved, model_name: Callable[[Agent[Any]], str]) -> None:
        self.recorder = recorder
        self.saved = saved
        self.model_name = model_name
        self.result: RunResultStreaming | None = None
        self.agent_step: str | None = None  # the open agent step's id
        self.call: str | None = None  # the open model call's id
        self.awaiting_llm_end = False
        self.held: list[Any] = []
        self.tool_errors: dict[str, str] = {}
        self.consumer_done = asyncio.Event()
        self.progress = asyncio.Event()
        self.handling = False

    def hooks(self, user: RunHooks[Any] | None) -> RunHooks[Any]:
        """The run's hooks: ours, then the user's."""
        return _Hooks(_TopLevel(self), user, top_level=True)

    def activate(self) -> contextvars.Token[Translation | None]:
        """Make this the run whose nested runs report here (in the current context)."""
        return _ACTIVE.set(self)

    # -- the stream ---------------------------------------------------------------------------

    async def consume(self, result: RunResultStreaming) -> None:
        """Translate the SDK's stream, in the order the SDK queued it."""
        self.result = result
        try:
            async for event in result.stream_events():
                self.handling = True
                try:
                    await self.handle(event)
                finally:
                    self.handling = False
                    self.progress.set()
        finally:
            self.consumer_done.set()
            self.progress.set()

    async def drain(self) -> None:
        """Wait until the stream consumer has handled everything queued so far: it is idle when
        it handles no event and the SDK's queue (`RunResultStreaming._event_queue`, an
        `asyncio.Queue`) is empty. Without that queue (a future SDK), order is best effort."""
        queue = getattr(self.result, "_event_queue", None)
        empty = getattr(queue, "empty", None)
        while not self.consumer_done.is_set() and (self.handling or (callable(empty) and not empty())):
            self.progress.clear()
            await self.progress.wait()

    async def handle(self, event: StreamEvent) -> None:
        if event.type == "raw_response_event":
            kind = getattr(event.data, "type", None)
            if kind == "response.output_text.delta":
                await self.recorder.llm_delta(self.call, getattr(event.data, "delta", ""))
            elif kind == "response.completed":
                self.awaiting_llm_end = True  # the reply's items follow; on_llm_end comes after them
        elif event.type == "agent_updated_stream_event":
            await self.enter_agent(event.new_agent.name)
        elif event.type == "run_item_stream_event":
            to_input = getattr(event.item, "to_input_item", None)
            if callable(to_input) and event.name != "mcp_approval_requested":
                self.saved.items.append(jsonable(to_input()))
            if self.awaiting_llm_end:
                self.held.append(event)
                return
            await self.report_item(event)
            if event.name == "handoff_occured":  # the next turn is the target's: a checkpoint resumes it
                target = getattr(getattr(event.item, "target_agent", None), "name", None)
                self.saved.agent_name = target or self.saved.agent_name
            if event.name in ("tool_output", "handoff_occured"):
                await self.save_progress()

    async def report_item(self, event: Any) -> None:
        name, item = event.name, event.item
        raw = getattr(item, "raw_item", None)
        if name == "tool_called":
            await self.tool_called(raw)
        elif name == "tool_output":
            await self.tool_output(call_id_of(raw), getattr(item, "output", field(raw, "output")))
        elif name == "message_output_created":
            await self.recorder.assistant_message(raw, step=self.agent_step)
        elif name == "handoff_occured":
            source = getattr(getattr(item, "source_agent", None), "name", None) or self.saved.agent_name or ""
            target = getattr(getattr(item, "target_agent", None), "name", None) or ""
            step = await self.recorder.step_started(
                f"handoff:{source}->{target}", "handoff", parent=self.agent_step, from_agent=source,
                to_agent=target, tool_call_id=str(field(raw, "call_id") or ""),
            )
            await self.recorder.step_completed(step)

    async def tool_called(self, raw: Any) -> None:
        name = str(field(raw, "name") or field(raw, "type") or "tool")
        await self.recorder.tool_call(name, field(raw, "arguments"), call_id=call_id_of(raw), step=self.agent_step)

    async def tool_output(self, call_id: str, output: Any) -> None:
        """A tool's output: its TOOL_RESULT (a call made before a resume gets its TOOL_CALL
        first, from the saved conversation)."""
        error = self.tool_errors.pop(call_id, None)
        if error is None and not FORMATTER_SEES_TOOL_EXCEPTIONS and isinstance(output, str) and output.startswith(_DEFAULT_TOOL_ERROR_PREFIX):
            error = output  # an older SDK: its default failure text is the only sign
        call = next((i for i in self.saved.items if i.get("type") == "function_call" and i.get("call_id") == call_id), {})
        if isinstance(output, list):
            output = message_text(jsonable(output))
        await self.recorder.tool_result(
            call_id, output, error=error, name=str(call.get("name") or "tool"), arguments=call.get("arguments"), step=self.agent_step
        )

    def record_tool_error(self, args: ToolErrorFormatterArgs[Any]) -> None:
        """Called by the per-run `tool_error_formatter`: remember why a tool call failed."""
        if args.kind == "tool_exception" and args.error is not None:
            message = f"{type(args.error).__name__}: {args.error}"
        elif args.kind == "approval_rejected":
            message = self.tool_errors.get(args.call_id) or f"rejected by a human: {args.default_message}"
        else:
            message = args.default_message
        self.tool_errors[args.call_id] = message

    # -- model calls (hooks of the run itself) --------------------------------------------------

    async def llm_started(self, agent: Agent[Any]) -> None:
        await self.drain()
        self.saved.turns += 1
        self.held.clear()
        self.awaiting_llm_end = False
        self.saved.response_start = len(self.saved.items)
        self.call = await self.recorder.llm_call_started(self.model_name(agent), step=self.agent_step)

    async def llm_ended(self, agent: Agent[Any], response: ModelResponse) -> None:
        await self.drain()
        if self.call is not None:
            await self.recorder.llm_call_completed(
                self.call, usage=response.usage, model=self.model_name(agent), response_id=response.response_id
            )
        self.call = None
        held, self.held = self.held, []
        self.awaiting_llm_end = False
        for event in held:
            await self.report_item(event)
        # Saved before any tool of this response runs: a crash in a tool does not lose the reply.
        # (A reply of text only ends the run, which saves its result instead.)
        if any(getattr(item, "type", None) not in ("message", "reasoning") for item in response.output):
            await self.save_progress()

    # -- agent steps --------------------------------------------------------------------------

    async def enter_agent(self, name: str) -> None:
        """The agent whose turn it is: its step (the previous agent's step is completed)."""
        self.saved.agent_name = name
        if self.agent_step is not None and self.recorder.step_name(self.agent_step) == name:
            return
        await self.leave_agent()
        self.agent_step = await self.recorder.step_started(name, "agent", parent=None)

    async def leave_agent(self) -> None:
        if self.agent_step is not None:
            step, self.agent_step = self.agent_step, None
            await self.recorder.step_completed(step)

    async def save_progress(self) -> None:
        await self.saved.save_progress(self.saved.agent_name or "")


class _TopLevel:
    """Our hooks of the run itself (the SDK's signatures; extra arguments of newer SDKs ignored)."""

    def __init__(self, translation: Translation) -> None:
        self.t = translation

    async def on_llm_start(self, context: Any, agent: Agent[Any], *args: Any, **kwargs: Any) -> None:
        await self.t.llm_started(agent)

    async def on_llm_end(self, context: Any, agent: Agent[Any], response: ModelResponse, *args: Any, **kwargs: Any) -> None:
        await self.t.llm_ended(agent, response)


class _Nested:
    """Our hooks of one nested run: its agents as steps inside the step that started it, its
    model calls with their usage, its function tools."""

    def __init__(self, translation: Translation) -> None:
        self.t = translation
        self.recorder = translation.recorder
        self.step: str | None = None
        self.call: str | None = None
        self.tools: dict[int, str] = {}

    async def on_agent_start(self, context: Any, agent: Agent[Any], *args: Any, **kwargs: Any) -> None:
        await self.t.drain()
        if self.step is not None:  # a handoff inside the nested run
            await self.recorder.step_completed(self.step)
        self.step = await self.recorder.step_started(agent.name, "agent", parent=self.t.agent_step)

    async def on_agent_end(self, context: Any, agent: Agent[Any], *args: Any, **kwargs: Any) -> None:
        if self.step is not None:
            step, self.step = self.step, None
            await self.recorder.step_completed(step)

    async def on_llm_start(self, context: Any, agent: Agent[Any], *args: Any, **kwargs: Any) -> None:
        await self.t.drain()
        self.call = await self.recorder.llm_call_started(self.t.model_name(agent), step=self.step)

    async def on_llm_end(self, context: Any, agent: Agent[Any], response: ModelResponse, *args: Any, **kwargs: Any) -> None:
        if self.call is not None:
            call, self.call = self.call, None
            await self.recorder.llm_call_completed(
                call, usage=response.usage, model=self.t.model_name(agent), response_id=response.response_id
            )

    async def on_tool_start(self, context: Any, agent: Agent[Any], tool: Any, *args: Any, **kwargs: Any) -> None:
        call_id = getattr(context, "tool_call_id", None)
        if isinstance(call_id, str) and call_id:
            if self.recorder.is_open("tool", call_id):  # the same id as an open call outside
                call_id = self.recorder.new_id("call")
            self.tools[id(context)] = await self.recorder.tool_call(
                str(getattr(tool, "name", "tool")), getattr(context, "tool_arguments", None), call_id=call_id, step=self.step
            )

    async def on_tool_end(self, context: Any, agent: Agent[Any], tool: Any, result: Any = None, *args: Any, **kwargs: Any) -> None:
        call_id = self.tools.pop(id(context), None)
        if call_id is not None:
            await self.recorder.tool_result(call_id, result)

    async def failed(self, error: BaseException) -> None:
        """The nested run raised: close what it left open (its step, and what is inside it)."""
        if self.step is not None:
            await self.recorder.step_failed(self.step, error)
        elif self.call is not None:
            await self.recorder.llm_call_failed(self.call, error)


class _Hooks(RunHooks[Any]):
    """`RunHooks` calling ours, then the user's (their errors are theirs: they propagate). Every
    hook method the SDK defines is forwarded (see the loop below the class)."""

    def __init__(self, own: Any, user: RunHooks[Any] | None, *, top_level: bool = False) -> None:
        self._own = own
        self._user = user
        self.top_level = top_level


def _forward(name: str) -> Callable[..., Any]:
    async def hook(self: _Hooks, *args: Any, **kwargs: Any) -> None:
        own = getattr(self._own, name, None)
        if own is not None:
            await own(*args, **kwargs)
        if self._user is not None:
            await getattr(self._user, name)(*args, **kwargs)

    hook.__name__ = name
    return hook


for _name in [n for n in dir(RunHooks) if n.startswith("on_")]:
    setattr(_Hooks, _name, _forward(_name))


class _NestedRunner(AgentRunner):
    """The SDK's default runner, wrapped: runs started inside one of our runs get its nested
    hooks (after their own). Outside our runs every call passes through unchanged."""

    def __init__(self, inner: AgentRunner) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # anything else the SDK may ask of its runner
        return getattr(self.inner, name)

    async def run(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        nested = self._nest(kwargs)
        if nested is None:
            return await self.inner.run(starting_agent, input, **kwargs)
        try:
            return await self.inner.run(starting_agent, input, **kwargs)
        except BaseException as e:
            await nested.failed(e)
            raise

    def run_streamed(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        self._nest(kwargs)  # a failure closes its open work when the outer run ends
        return self.inner.run_streamed(starting_agent, input, **kwargs)

    def run_sync(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        return self.inner.run_sync(starting_agent, input, **kwargs)  # no event loop of ours there

    @staticmethod
    def _nest(kwargs: dict[str, Any]) -> _Nested | None:
        translation = _ACTIVE.get()
        hooks = kwargs.get("hooks")
        if translation is None or (isinstance(hooks, _Hooks) and hooks.top_level):
            return None
        nested = _Nested(translation)
        kwargs["hooks"] = _Hooks(nested, hooks)
        return nested


def install_nested_runner() -> None:
    """Wrap the SDK's default `AgentRunner` (once per process), so nested runs report to ours."""
    current = get_default_agent_runner()
    if not isinstance(current, _NestedRunner):
        set_default_agent_runner(_NestedRunner(current))
