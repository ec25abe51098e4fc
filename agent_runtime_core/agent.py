"""What an agent is (`AgentRuntime`) and what a run of it returns (`RunResult`, `RunStatus`)."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .context import RunContext
from .errors import ErrorInfo

__all__ = ["AgentRuntime", "RunResult", "RunStatus"]


class RunStatus(enum.StrEnum):
    """Where a run stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@dataclass
class RunResult:
    """What a run produced. Agents return it; the runner fills in `run_id`, `status`, `attempts`."""

    final_output: dict[str, Any] = field(default_factory=dict)
    """Structured output, e.g. `{"response": "..."}`."""
    final_messages: list[dict[str, Any]] | None = None
    """The conversation at the end of the run, OpenAI-style message dicts."""
    error: ErrorInfo | None = None
    """Set when the run failed or was cancelled."""
    run_id: str | None = None
    """The run's id (set by the runner)."""
    status: RunStatus | None = None
    """How the run ended (set by the runner)."""
    attempts: int = 0
    """How many attempts the runner made (set by the runner)."""
    interrupt: dict[str, Any] | None = None
    """Set by an agent that pauses for a human: the question to ask. The run ends INTERRUPTED."""

    @property
    def succeeded(self) -> bool:
        """True when the run finished without error."""
        return self.status is RunStatus.SUCCEEDED if self.status else self.error is None


class AgentRuntime(ABC):
    """The base class of every agent: give it a `key` and implement `run`.

    Adapters wrap a LangGraph graph, a CrewAI crew or an OpenAI agent as an `AgentRuntime`, so the
    same runner, events and persistence serve them all.
    """

    @property
    @abstractmethod
    def key(self) -> str:
        """Unique identifier for this agent (used by the registry and on every event)."""

    @abstractmethod
    async def run(self, ctx: RunContext) -> RunResult:
        """Execute the agent for one run. Raise to fail the attempt (the runner may retry)."""

    def __repr__(self) -> str:
        try:
            key = self.key
        except Exception:  # a half-built subclass must still have a repr
            key = "?"
        return f"<{type(self).__name__} key={key!r}>"
