"""Run Google ADK agents on agent-runtime-core.

`GoogleADKRuntime(agent, key=..., app_name=...)` wraps an ADK agent (`LlmAgent`, and the workflow
agents `SequentialAgent`, `ParallelAgent`, `LoopAgent`, with sub-agents and transfers) as an
`AgentRuntime`: the same `AgentRunner`, event stream, checkpoints, human-in-the-loop resume and
cancellation as every other agent. See the package README for the event mapping and guarantees.

Importing this package sets `LITELLM_LOCAL_MODEL_COST_MAP=True` unless it is set (otherwise
`import litellm`, which ADK's `LiteLlm` model does, fetches a price map from GitHub); ADK itself
exports telemetry only from its own API server. ADK is imported when `GoogleADKRuntime` is first used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from ._state import StateStoreSessionService
    from .runtime import CHECKPOINT_FORMAT, GoogleADKNonRetriableError, GoogleADKRuntime

__all__ = ["CHECKPOINT_FORMAT", "GoogleADKNonRetriableError", "GoogleADKRuntime", "StateStoreSessionService"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "StateStoreSessionService":
        from . import _state

        return _state.StateStoreSessionService
    if name in __all__:
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
