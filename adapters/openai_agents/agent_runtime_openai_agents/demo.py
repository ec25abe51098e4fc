"""The `agent-runtime demo` agent built natively with the OpenAI Agents SDK, against a model
served at `base_url` (the demo's loopback OpenAI-compatible server), with the demo's tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agents import Agent, OpenAIResponsesModel, function_tool
from openai import AsyncOpenAI

from .runtime import OpenAIAgentsRuntime

__all__ = ["build_demo_runtime"]


def build_demo_runtime(
    base_url: str, tools: Sequence[Callable[..., Any]], *, model: str = "scripted-demo"
) -> tuple[OpenAIAgentsRuntime, Callable[[], Awaitable[None]]]:
    """The demo's tool agent as an `agents.Agent`, and a coroutine function closing its client."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-demo-offline", max_retries=0)
    agent = Agent(
        name="tool-agent",
        instructions="Answer with the help of your tools.",
        tools=[function_tool(fn) for fn in tools],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )
    return OpenAIAgentsRuntime(agent, key="openai-agents-demo"), client.close
