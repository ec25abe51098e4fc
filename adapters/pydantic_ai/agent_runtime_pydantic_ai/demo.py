"""The `agent-runtime demo` agent built natively with Pydantic AI, against a model served at
`base_url` (the demo's loopback OpenAI-compatible server), with the demo's tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from .runtime import PydanticAIRuntime

__all__ = ["build_demo_runtime"]


def build_demo_runtime(
    base_url: str, tools: Sequence[Callable[..., Any]], *, model: str = "scripted-demo"
) -> tuple[PydanticAIRuntime, Callable[[], Awaitable[None]]]:
    """The demo's tool agent as a `pydantic_ai.Agent`, and a coroutine function closing its client."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-demo-offline", max_retries=0)
    agent = Agent(
        OpenAIChatModel(model, provider=OpenAIProvider(openai_client=client)),
        name="tool-agent",
        instructions="Answer with the help of your tools.",
        tools=list(tools),
    )
    return PydanticAIRuntime(agent, key="pydantic-ai-demo"), client.close
