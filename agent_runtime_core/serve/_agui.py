"""AG-UI (placeholder)."""

from __future__ import annotations

from starlette.routing import Route

__all__ = ["agui_routes"]


def agui_routes() -> list[Route]:
    return []
