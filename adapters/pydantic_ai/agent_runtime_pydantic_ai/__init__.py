"""Run Pydantic AI agents on agent-runtime-core.

`PydanticAIRuntime(agent, key=...)` wraps a `pydantic_ai.Agent` as an `AgentRuntime`: the same
`AgentRunner`, event stream, checkpoints, human-in-the-loop resume and cancellation as every other
agent. See the package README for the event mapping and guarantees.

Importing this package is cheap; Pydantic AI is imported when `PydanticAIRuntime` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import CHECKPOINT_FORMAT, PydanticAINonRetriableError, PydanticAIRuntime

__all__ = ["CHECKPOINT_FORMAT", "PydanticAINonRetriableError", "PydanticAIRuntime"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
