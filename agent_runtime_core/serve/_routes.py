"""The run API: start a run, read its state, follow its events, cancel it, answer its interrupt.

    GET  /healthz                 -> 200 {"status": "ok"}                  (no key needed)
    GET  /agents                  -> 200 {"agents": [...]}
    POST /runs                    {"agent_key", "input", "metadata"} -> 201 {"run_id", "status"}
    GET  /runs                    -> 200 {"runs": [...]}  this key's runs, newest first
    GET  /runs/{id}               -> 200 status, and the result or error once ended
    GET  /runs/{id}/events        -> SSE, resumable with Last-Event-ID or ?after=
    POST /runs/{id}/cancel        -> 202
    POST /runs/{id}/resume        {"answer": ...} -> 202; 409 unless the run is interrupted
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._http import Problem, parse_count, read_json, require_object
from ._runs import RunManager, RunRecord, check_input
from ._sse import EncodedEvents, grammar_stream, parse_after, sse_response

__all__ = ["ServerState", "run_routes"]


class ServerState:
    """What the routes share: the run manager and the limits."""

    def __init__(self, runs: RunManager, *, max_body_bytes: int, keepalive_seconds: float) -> None:
        self.runs = runs
        self.max_body_bytes = max_body_bytes
        self.keepalive_seconds = keepalive_seconds
        self.encoded = EncodedEvents()


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.serve
    return state


def owner_of(request: Request) -> str:
    """The owner id the auth middleware put on the request."""
    owner: str = request.scope["state"]["owner"]
    return owner


async def _record(request: Request) -> RunRecord:
    return await _state(request).runs.find(owner_of(request), request.path_params["run_id"])


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def list_agents(request: Request) -> Response:
    return JSONResponse({"agents": _state(request).runs.agent_keys()})


async def start_run(request: Request) -> Response:
    state = _state(request)
    body = require_object(await read_json(request, state.max_body_bytes))
    unknown = sorted(set(body) - {"agent_key", "input", "metadata"})
    if unknown:
        raise Problem(422, "invalid_body", f"Unknown field(s) {', '.join(map(repr, unknown))}; a run takes `agent_key`, `input` and `metadata`.")
    agent_key = state.runs.check_agent(body.get("agent_key"))
    input_data = check_input(body.get("input"))
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Problem(422, "invalid_body", "`metadata` must be a JSON object.")
    record = await state.runs.start(owner_of(request), agent_key, input_data, metadata)
    status = await state.runs.status(record)
    return JSONResponse(
        {"run_id": record.run_id, "status": status["status"]},
        status_code=201,
        headers={"Location": str(request.url_for("run", run_id=record.run_id))},
    )


async def list_runs(request: Request) -> Response:
    state = _state(request)
    raw = request.query_params.get("limit", "50")
    limit = parse_count(raw.strip())
    if limit is None or not 1 <= limit <= 1000:
        raise Problem(422, "invalid_limit", f"`limit` must be an integer from 1 to 1000; got {raw[:40]!r}.")
    records = state.runs.listed(owner_of(request), limit)
    return JSONResponse({"runs": await state.runs.statuses(records)})


async def get_run(request: Request) -> Response:
    record = await _record(request)
    return JSONResponse(await _state(request).runs.status(record))


async def run_events(request: Request) -> Response:
    state = _state(request)
    record = await _record(request)
    after = parse_after(request)
    return sse_response(grammar_stream(state.runs.runner, record.run_id, after, state.encoded), state.keepalive_seconds)


async def cancel_run(request: Request) -> Response:
    state = _state(request)
    record = await _record(request)
    requested = await state.runs.cancel(record)
    status = await state.runs.status(record)
    return JSONResponse({"run_id": record.run_id, "cancel_requested": requested, "status": status["status"]}, status_code=202)


async def resume_run(request: Request) -> Response:
    state = _state(request)
    record = await _record(request)
    body: dict[str, Any] = require_object(await read_json(request, state.max_body_bytes))
    if "answer" not in body:
        raise Problem(422, "invalid_body", 'A resume takes {"answer": ...}: the human\'s answer to the run\'s interrupt.')
    await state.runs.resume(record, body["answer"])
    return JSONResponse({"run_id": record.run_id, "status": "running"}, status_code=202)


def run_routes() -> list[Route]:
    """The run API's routes."""
    return [
        Route("/healthz", health, methods=["GET"]),
        Route("/agents", list_agents, methods=["GET"]),
        Route("/runs", start_run, methods=["POST"]),
        Route("/runs", list_runs, methods=["GET"]),
        Route("/runs/{run_id}", get_run, methods=["GET"], name="run"),
        Route("/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
        Route("/runs/{run_id}/resume", resume_run, methods=["POST"]),
    ]
