"""The conformance scenarios built natively in LangGraph (importable without pytest).

Each `build_*_runtime(base_url)` returns a `LangGraphRuntime` whose graph talks to an
OpenAI-compatible server at `base_url` through langchain-openai's real `ChatOpenAI` client (the
core's `OpenAICompatibleServer` in tests). The graphs are plain LangGraph: a `StateGraph` over
`MessagesState` with a model node and a `ToolNode`, routed by `tools_condition`.

Scenario -> scripted model to serve:
- `build_weather_runtime`: `weather_model()` (calls get_weather, then answers).
- `build_two_step_runtime`: `two_step_model()` (research node with the weather tool, then a writer
  node that calls the model once more); final answer `two_step_answer(city)`.
- `build_failing_tool_runtime`: `failing_tool_model()`; the tool raises, `ToolNode` is told to
  handle tool errors, so the error goes back to the model and the run succeeds with an apology.
  With `handle_tool_errors=False` the run fails (LangGraph's default re-raises).
- `build_hitl_runtime`: `weather_model()`; a `review` node asks a human (`interrupt`) before the
  tool runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt

from agent_runtime_core.testing.conformance import (
    get_weather,
    get_weather_failing,
    weather_for,
)
from agent_runtime_core.testing.scripted import ScriptedModel, ScriptRequest, call_tool, reply
from agent_runtime_langgraph import LangGraphRuntime

__all__ = [
    "API_KEY",
    "MODEL_NAME",
    "build_failing_tool_runtime",
    "build_hitl_runtime",
    "build_react_graph",
    "build_two_step_runtime",
    "build_weather_runtime",
    "chat_model",
    "two_step_answer",
    "two_step_model",
    "weather_tool",
]

MODEL_NAME = "scripted-weather"
API_KEY = "sk-test-langgraph"


def chat_model(base_url: str, **kwargs: Any) -> ChatOpenAI:
    """langchain-openai's client pointed at `base_url`. `stream_usage=True` is what makes a
    streamed call report token usage (LLM_CALL_COMPLETED `usage`)."""
    options: dict[str, Any] = {"model": MODEL_NAME, "stream_usage": True, "max_retries": 0, "timeout": 30}
    options.update(kwargs)
    return ChatOpenAI(base_url=base_url, api_key=API_KEY, **options)  # type: ignore[arg-type]


def weather_tool(fn: Callable[..., str] = get_weather) -> BaseTool:
    """`fn` as a LangChain tool named `get_weather` (whatever the function's own name)."""
    return StructuredTool.from_function(fn, name="get_weather")


def build_react_graph(
    model: ChatOpenAI,
    tools: Sequence[BaseTool],
    *,
    handle_tool_errors: bool = False,
    then: tuple[str, Callable[..., Any]] | None = None,
    before_tools: tuple[str, Callable[..., Any]] | None = None,
) -> Any:
    """A ReAct graph: `agent` (the model with tools) <-> `tools` (`ToolNode`), compiled.

    `then=(name, fn)` adds a node that runs after the agent's final answer; `before_tools` one
    that runs between the agent's tool request and the tools, routing with `Command(goto=...)`.
    """
    bound = model.bind_tools(list(tools))

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(list(tools), handle_tool_errors=handle_tool_errors))
    builder.add_edge(START, "agent")
    tools_entry = "tools"
    if before_tools is not None:
        builder.add_node(before_tools[0], before_tools[1], destinations=("tools", "agent"))
        tools_entry = before_tools[0]  # it routes itself with Command(goto=...)
    finish = then[0] if then is not None else END
    builder.add_conditional_edges("agent", tools_condition, {"tools": tools_entry, END: finish})
    builder.add_edge("tools", "agent")
    if then is not None:
        builder.add_node(then[0], then[1])
        builder.add_edge(then[0], END)
    return builder.compile()


def build_weather_runtime(base_url: str, *, key: str = "langgraph-weather", **kwargs: Any) -> LangGraphRuntime:
    """The weather scenario (serve `weather_model()`)."""
    graph = build_react_graph(chat_model(base_url), [weather_tool()])
    return LangGraphRuntime(graph, key=key, **kwargs)


# -- two steps: research, then write ---------------------------------------------------------


def _city(request: ScriptRequest) -> str:
    words = request.last_user_message.rstrip("?!. ").split()
    return words[-1] if words else "Paris"


def two_step_answer(city: str = "Paris") -> str:
    """The final answer of the two-step scenario."""
    return f"Report for {city}: {weather_for(city)}."


def two_step_model(model: str = MODEL_NAME) -> ScriptedModel:
    """Turn 0 calls get_weather, turn 1 answers (research), turn 2 writes the report (writer)."""

    def research(request: ScriptRequest) -> str:
        return f"The weather in {_city(request)}: {request.tool_results[-1].content}."

    def report(request: ScriptRequest) -> str:
        return two_step_answer(_city(request))

    return ScriptedModel(
        [lambda r: call_tool("get_weather", {"city": _city(r)}), reply(research), reply(report)], model=model
    )


def build_two_step_runtime(base_url: str, *, key: str = "langgraph-two-step") -> LangGraphRuntime:
    """Two model steps: `agent` researches with the tool, then `writer` writes the report
    (serve `two_step_model()`)."""
    model = chat_model(base_url)

    async def writer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = build_react_graph(model, [weather_tool()], then=("writer", writer))
    return LangGraphRuntime(graph, key=key)


# -- a failing tool ----------------------------------------------------------------------------


def build_failing_tool_runtime(
    base_url: str, *, key: str = "langgraph-failing-tool", handle_tool_errors: bool = True, **kwargs: Any
) -> LangGraphRuntime:
    """The failing-tool scenario (serve `failing_tool_model()`).

    LangGraph's `ToolNode` re-raises tool exceptions by default; with `handle_tool_errors=True`
    it answers the model with an error `ToolMessage` (status "error") instead.
    """
    graph = build_react_graph(
        chat_model(base_url), [weather_tool(get_weather_failing)], handle_tool_errors=handle_tool_errors
    )
    return LangGraphRuntime(graph, key=key, **kwargs)


# -- human in the loop -------------------------------------------------------------------------


def build_hitl_runtime(base_url: str, *, key: str = "langgraph-hitl") -> LangGraphRuntime:
    """A `review` node asks a human before the tool runs: `interrupt({...})`; an answer other
    than "yes" replaces the tool call by a refusal. Serve `weather_model()`."""

    def review(state: MessagesState) -> Command[Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        call = last.tool_calls[0]
        answer = interrupt({"action": "approve_tool", "tool": call["name"], "args": call["args"]})
        if answer == "yes":
            return Command(goto="tools")
        declined = ToolMessage("The user declined.", tool_call_id=call["id"], name=call["name"], status="error")
        return Command(goto="agent", update={"messages": [declined]})

    graph = build_react_graph(chat_model(base_url), [weather_tool()], before_tools=("review", review))
    return LangGraphRuntime(graph, key=key)

