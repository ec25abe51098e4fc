"""Run CrewAI crews on agent-runtime-core.

`CrewAIRuntime(crew, key=...)` wraps a `crewai.Crew` as an `AgentRuntime`: one event stream in the
runtime's grammar (steps for tasks and agents, LLM calls with usage, tool calls and results,
assistant messages), completed task outputs kept in the runner's StateStore so a re-executed run
skips finished tasks, and cooperative cancellation.

Importing this package turns CrewAI's outbound telemetry off unless the environment already says
otherwise (see `enable_crewai_telemetry` and the README); import it before `crewai` so that the
switches are in place from the start. CrewAI itself is imported lazily, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._telemetry import (
    OPT_IN_ENV,
    TELEMETRY_DEFAULTS,
    apply_telemetry_defaults,
    enable_crewai_telemetry,
)

apply_telemetry_defaults()

if TYPE_CHECKING:
    from ._state import state_key
    from .runtime import CrewAIRuntime, InputMapper, default_inputs

__all__ = [
    "OPT_IN_ENV",
    "TELEMETRY_DEFAULTS",
    "CrewAIRuntime",
    "InputMapper",
    "__version__",
    "default_inputs",
    "enable_crewai_telemetry",
    "state_key",
]

__version__ = "0.1.0"

_LAZY = {
    "CrewAIRuntime": ".runtime",
    "InputMapper": ".runtime",
    "default_inputs": ".runtime",
    "state_key": "._state",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
