"""`create_app`: the ASGI app that serves an `AgentRunner` (run API, SSE, AG-UI, viewer)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from .. import AgentRunner, AgentRuntime
from .._redaction import get_logger
from ..errors import UserError
from ._agui_route import agui_routes
from ._auth import ApiKeys, AuthMiddleware
from ._http import Problem, problem_response
from ._routes import ServerState, run_routes
from ._runs import Execution, RunManager
from ._viewer import viewer_routes

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

logger = get_logger("agent_runtime_core.serve")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted by default: 1 MiB (larger ones get 413)."""

STATIC_DIR = Path(__file__).with_name("static")


def _agents(agents: Iterable[AgentRuntime | str] | Mapping[str, AgentRuntime] | None) -> dict[str, AgentRuntime | None] | None:
    if agents is None:
        return None
    if isinstance(agents, Mapping):
        return dict(agents)
    found: dict[str, AgentRuntime | None] = {}
    for agent in agents:
        if isinstance(agent, AgentRuntime):
            found[agent.key] = agent
        elif isinstance(agent, str) and agent:
            found[agent] = None
        else:
            raise UserError(f"`agents` takes AgentRuntime instances or agent keys; got {type(agent).__name__}.")
    return found


def _execution(runner: AgentRunner, execution: Literal["auto", "local", "queue"]) -> Execution:
    if execution in ("local", "queue"):
        return execution
    if execution != "auto":
        raise UserError(f"`execution` must be 'auto', 'local' or 'queue'; got {execution!r}.")
    # A queue shared with workers in other processes (Redis): submit to it. In-memory: run here.
    return "local" if getattr(runner.queue, "process_local", False) else "queue"


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.type, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem_response(404, "not_found", f"No route {request.method} {request.url.path}; see docs/serving.md for the API.")
    if exc.status_code == 405:
        return problem_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}.")
    return problem_response(exc.status_code, "http_error", str(exc.detail))


def create_app(
    runner: AgentRunner | None = None,
    *,
    agents: Iterable[AgentRuntime | str] | Mapping[str, AgentRuntime] | None = None,
    api_keys: Iterable[str] | str | None = None,
    execution: Literal["auto", "local", "queue"] = "auto",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    cors_origins: Sequence[str] | None = None,
    keepalive_seconds: float = 15.0,
    viewer: bool = True,
    shutdown_grace_seconds: float = 5.0,
) -> Starlette:
    """An ASGI app serving `runner`'s runs over HTTP; see docs/serving.md.

    Args:
        runner: The runner whose backends hold the runs (default: a new `AgentRunner()`).
        agents: The agents runs may name (instances, or keys of registered ones); default: every
            agent registered (`register_runtime`) at request time.
        api_keys: Keys that may call the API; default: `AGENT_RUNTIME_API_KEYS` (comma or
            whitespace separated). None of either: no auth (for a server on loopback only).
        execution: "local" runs each run in this process in a background task; "queue" submits
            it to the runner's queue for workers; "auto" picks "queue" when the queue is shared
            (Redis) and "local" otherwise.
        max_body_bytes: Largest request body; larger ones get 413.
        cors_origins: Origins allowed to call the API from a browser; default none (CORS off).
        keepalive_seconds: Seconds between keep-alive comments on an event stream.
        viewer: Serve the run viewer at `/`.
        shutdown_grace_seconds: On shutdown, how long runs executing here may take to stop.
    """
    if runner is None:
        runner = AgentRunner()
    if not isinstance(runner, AgentRunner):
        raise UserError(f"`runner` must be an AgentRunner; got {type(runner).__name__}.")
    if not isinstance(max_body_bytes, int) or max_body_bytes < 1024:
        raise UserError(f"`max_body_bytes` must be an integer >= 1024; got {max_body_bytes!r}.")
    if not keepalive_seconds > 0:
        raise UserError(f"`keepalive_seconds` must be > 0; got {keepalive_seconds!r}.")
    keys = ApiKeys.from_settings(api_keys)
    runs = RunManager(runner, _execution(runner, execution), _agents(agents))
    state = ServerState(runs, max_body_bytes=max_body_bytes, keepalive_seconds=keepalive_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runs.close(shutdown_grace_seconds)

    routes: list[BaseRoute] = [*run_routes(), *agui_routes()]
    public = {"/healthz"}
    if viewer:
        routes += viewer_routes()
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
        public |= {"/", "/favicon.ico"}
    middleware = [Middleware(AuthMiddleware, keys=keys, public=public, public_prefixes=("/static/",))]
    if cors_origins:
        # Outermost, so preflight requests are answered before auth.
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            ),
        )
    handlers: dict[Any, Any] = {Problem: _problem, HTTPException: _http_error}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.serve = state
    app.state.api_keys = keys
    return app
