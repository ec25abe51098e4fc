"""agent-runtime-core: one runtime for every AI agent, whatever framework built it.

The names here are the Quick Start's; backends live in `agent_runtime_core.events`, `.queue`,
`.state`, model clients in `.llm`, test doubles in `.testing`, multi-step runs in `.steps`.
Importing this package imports nothing outside the standard library.
"""

from __future__ import annotations

from .agent import AgentRuntime, RunResult, RunStatus
from .config import RuntimeConfig, configure, get_config
from .context import RunContext
from .errors import (
    AgentRuntimeError,
    ConfigurationError,
    ErrorInfo,
    NonRetriableError,
    RunCancelledError,
    RunError,
    RunTimeoutError,
    StepError,
    UserError,
)
from .events.base import Event, EventType
from .registry import (
    clear_registry,
    get_runtime,
    list_runtimes,
    register_runtime,
    unregister_runtime,
)
from .runner import AgentRunner, RunnerConfig
from .tools import Tool, ToolCallError, ToolRegistry, tool
from .tracing.base import TraceSink

__version__ = "0.1.0"
__all__ = [
    "AgentRunner",
    "AgentRuntime",
    "AgentRuntimeError",
    "ConfigurationError",
    "ErrorInfo",
    "Event",
    "EventType",
    "NonRetriableError",
    "RunCancelledError",
    "RunContext",
    "RunError",
    "RunResult",
    "RunStatus",
    "RunTimeoutError",
    "RunnerConfig",
    "RuntimeConfig",
    "StepError",
    "Tool",
    "ToolCallError",
    "ToolRegistry",
    "TraceSink",
    "UserError",
    "__version__",
    "clear_registry",
    "configure",
    "get_config",
    "get_runtime",
    "list_runtimes",
    "register_runtime",
    "tool",
    "unregister_runtime",
]
