"""The `agent-runtime demo` agent built natively in LangGraph: a ReAct graph over a model served
at `base_url` (the demo's loopback OpenAI-compatible server), with the demo's tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.tools import StructuredTool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from .runtime import LangGraphRuntime

__all__ = ["build_demo_runtime"]


def build_demo_runtime(
    base_url: str, tools: Sequence[Callable[..., Any]], *, model: str = "scripted-demo"
) -> tuple[LangGraphRuntime, Callable[[], Awaitable[None]]]:
    """The demo's tool agent as a LangGraph graph, and a coroutine function closing its client."""
    chat = ChatOpenAI(model=model, base_url=base_url, api_key="sk-demo-offline", stream_usage=True, max_retries=0)  # type: ignore[arg-type]
    lc_tools = [StructuredTool.from_function(fn) for fn in tools]
    bound = chat.bind_tools(lc_tools)

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(lc_tools, handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "agent")

    async def close() -> None:
        await chat.root_async_client.close()

    return LangGraphRuntime(builder.compile(), key="langgraph-demo"), close
