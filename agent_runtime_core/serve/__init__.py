"""Runs over HTTP: a JSON run API, each run's events as resumable SSE, AG-UI for UI clients,
API keys with per-key isolation, and a live run viewer (`GET /`).

`create_app(runner)` returns an ASGI app (Starlette) to serve with uvicorn or mount in your own
server; `agent-runtime serve --app MODULE` does both. Runs go through the given `AgentRunner`:
executed in the server process, or submitted to the queue workers when the runner has a shared
(distributed) queue. Needs the `serve` extra: `pip install 'agent-runtime-core[serve]'`.
"""

from __future__ import annotations

try:
    import ag_ui.core  # noqa: F401
    import sse_starlette  # noqa: F401
    import starlette  # noqa: F401
except ImportError as _import_error:  # pragma: no cover - exercised by the import test
    raise ImportError(
        "agent_runtime_core.serve needs the `serve` extra (Starlette, uvicorn, sse-starlette, "
        "ag-ui-protocol): pip install 'agent-runtime-core[serve]'"
    ) from _import_error

from ._app import DEFAULT_MAX_BODY_BYTES, create_app
from ._auth import API_KEYS_ENV, ApiKeys

__all__ = ["API_KEYS_ENV", "DEFAULT_MAX_BODY_BYTES", "ApiKeys", "create_app"]
