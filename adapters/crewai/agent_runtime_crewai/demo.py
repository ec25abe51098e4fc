"""The `agent-runtime demo` agent built natively in CrewAI: one agent with the demo's tools and
one task, its model served at `base_url` (the demo's loopback OpenAI-compatible server)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .runtime import CrewAIRuntime

__all__ = ["build_demo_runtime"]


def build_demo_runtime(
    base_url: str, tools: Sequence[Callable[..., Any]], *, model: str = "scripted-demo"
) -> tuple[CrewAIRuntime, Callable[[], Awaitable[None]]]:
    """The demo's tool agent as a one-task crew, and a coroutine function releasing it."""
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    # CrewAI warns that it does not know the scripted model's context window.
    logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)
    assistant = Agent(
        role="Assistant",
        goal="Answer the user's question.",
        backstory="You use your tools to answer.",
        tools=[tool(fn.__name__)(fn) for fn in tools],
        llm=LLM(model=f"openai/{model}", base_url=base_url, api_key="sk-demo-offline"),
        max_iter=4,
    )
    task = Task(description="Answer the user: {input}", expected_output="A short answer.", agent=assistant)

    async def close() -> None:
        return None

    return CrewAIRuntime(Crew(agents=[assistant], tasks=[task]), key="crewai-demo"), close
