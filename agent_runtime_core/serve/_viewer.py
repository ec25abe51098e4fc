"""The live run viewer: a static page (HTML, CSS, JS shipped in the package, no build step) that
lists runs, starts one, and draws a run's timeline as its events stream in."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

__all__ = ["viewer_routes"]

STATIC_DIR = Path(__file__).with_name("static")


async def index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def viewer_routes() -> list[Route]:
    """`GET /` (the viewer) and its icon; its scripts and styles are under `/static/`."""
    return [Route("/", index, methods=["GET"]), Route("/favicon.ico", favicon, methods=["GET"])]
