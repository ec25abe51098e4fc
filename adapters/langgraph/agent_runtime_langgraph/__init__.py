"""agent-runtime-langgraph: run LangGraph graphs on agent-runtime-core.

`LangGraphRuntime(graph, key=...)` wraps a compiled graph (or a `StateGraph` builder) as an
`AgentRuntime`: what its nodes, models and tools do becomes the runtime's events (a LangChain
callback handler reports them to the core's `RunRecorder`), its checkpoints live in the run's
`StateStore` through `StateStoreSaver`, `interrupt()` ends a run RUN_INTERRUPTED for
`runner.resume`, and `runner.cancel` stops it.

Names are imported lazily, so `import agent_runtime_langgraph` stays cheap until one is used.
LangSmith tracing (LangChain's only outbound telemetry) is off unless you set
`LANGSMITH_TRACING=true`; this package never switches it on or off.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._state import StateStoreSaver
    from .runtime import LangGraphRecursionError, LangGraphRuntime

__version__ = "0.1.0"
__all__ = [
    "LangGraphRecursionError",
    "LangGraphRuntime",
    "StateStoreSaver",
    "__version__",
]

_LAZY = {
    "LangGraphRecursionError": ".runtime",
    "LangGraphRuntime": ".runtime",
    "StateStoreSaver": "._state",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
