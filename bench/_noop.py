"""The no-op work of benchmark 3, for both runtimes (importable by their worker processes)."""

from __future__ import annotations

from typing import Any

from agent_runtime_core import AgentRuntime, RunContext, RunResult


class NoOp(AgentRuntime):
    """An agent that does nothing: what is left is the queue's and the runner's own cost."""

    key = "noop"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult()


async def arq_noop(ctx: dict[str, Any]) -> None:
    """arq's no-op job."""
    return None
