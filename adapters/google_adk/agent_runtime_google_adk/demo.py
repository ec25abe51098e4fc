"""The `agent-runtime demo` agent built natively with Google ADK, against a model served at
`base_url` (the demo's loopback OpenAI-compatible server), with the demo's tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm

from .runtime import GoogleADKRuntime

__all__ = ["build_demo_runtime"]


def build_demo_runtime(
    base_url: str, tools: Sequence[Callable[..., Any]], *, model: str = "scripted-demo"
) -> tuple[GoogleADKRuntime, Callable[[], Awaitable[None]]]:
    """The demo's tool agent as an ADK `LlmAgent` (LiteLLM to the loopback server), and a
    coroutine function to call when done (LiteLLM keeps no client to close)."""
    agent = LlmAgent(
        name="tool_agent",
        instruction="Answer with the help of your tools.",
        tools=list(tools),
        model=LiteLlm(model=f"openai/{model}", api_base=base_url, api_key="sk-demo-offline"),
    )

    async def close() -> None:
        return None

    return GoogleADKRuntime(agent, key="google-adk-demo"), close
