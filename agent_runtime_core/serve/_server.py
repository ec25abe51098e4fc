"""Serving an app with uvicorn: what `agent-runtime serve` and `agent-runtime demo --serve` run."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import uvicorn

from ..errors import UserError
from ._auth import API_KEYS_ENV, ApiKeys

__all__ = ["is_loopback", "serve_forever"]


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def serve_forever(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    allow_no_auth: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` until SIGINT/SIGTERM; `announce(url)` once it listens.

    Refuses to serve an app without API keys on an address other than loopback (anyone who can
    reach it could run your agents), unless `allow_no_auth`.
    """
    keys = getattr(app.state, "api_keys", None)
    if isinstance(keys, ApiKeys) and not keys.enabled and not is_loopback(host) and not allow_no_auth:
        raise UserError(
            f"Serving on {host} without API keys would let anyone who reaches it run your agents. "
            f"Set {API_KEYS_ENV} (or pass api_keys= to create_app), bind 127.0.0.1, or pass --allow-no-auth."
        )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws="none", lifespan="on")
    shown = f"[{host}]" if ":" in host else host
    await _AnnouncingServer(config, f"http://{shown}:{port}/", announce).serve()


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str, announce: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self._url = url
        self._announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self._announce is not None:
            self._announce(self._url)
