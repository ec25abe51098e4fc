"""API keys: `Authorization: Bearer <key>` checked in constant time on every route but the health
check and the viewer's static shell; each key sees only the runs it started.

A key is never stored, logged or shown: the server keeps SHA-256 digests, compares the digest of
what a request presents against every one of them (no early exit, `hmac.compare_digest`), and
names a run's owner by a short digest prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .._secrets import register_secret
from ..errors import UserError
from ._http import problem_response

__all__ = ["API_KEYS_ENV", "MIN_KEY_LENGTH", "ApiKeys", "AuthMiddleware"]

API_KEYS_ENV = "AGENT_RUNTIME_API_KEYS"
"""The environment variable read when `create_app` is given no `api_keys`: keys separated by
commas or whitespace."""

MIN_KEY_LENGTH = 16
"""Shortest key accepted: a guessable key is refused when the server starts."""

ANONYMOUS = "local"
"""The owner of every run when no key is configured (a server on loopback, for development)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """The keys a server accepts (as digests). With none, auth is off and every request is the
    one local owner: `create_app` refuses that on anything but loopback unless told otherwise."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        digests: list[bytes] = []
        for i, key in enumerate(keys):
            if not isinstance(key, str) or len(key.strip()) < MIN_KEY_LENGTH:
                raise UserError(
                    f"API key #{i + 1} is shorter than {MIN_KEY_LENGTH} characters; use a random key, "
                    "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
                )
            key = key.strip()
            register_secret(key)  # masked wherever text leaves the runtime, should one leak into it
            digests.append(_digest(key))
        self._digests = tuple(dict.fromkeys(digests))

    @classmethod
    def from_settings(cls, keys: Iterable[str] | str | None = None) -> ApiKeys:
        """The keys given, else those in `AGENT_RUNTIME_API_KEYS` (comma or whitespace separated)."""
        if keys is None:
            keys = os.environ.get(API_KEYS_ENV, "")
        if isinstance(keys, str):
            keys = [k for k in keys.replace(",", " ").split() if k]
        return cls(keys)

    def __repr__(self) -> str:
        return f"ApiKeys(count={len(self._digests)})"

    @property
    def enabled(self) -> bool:
        """True when requests must present a key."""
        return bool(self._digests)

    def owner(self, authorization: str | None) -> str | None:
        """The owner id for an `Authorization` header value, or None if it holds no valid key."""
        if not self._digests:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        presented = _digest(token.strip())
        match = b""
        for digest in self._digests:  # every key compared, whichever matches
            if hmac.compare_digest(presented, digest):
                match = digest
        return "key-" + match.hex()[:16] if match else None


_UNAUTHORIZED = (
    "Missing or wrong API key. Send `Authorization: Bearer <key>` with a key the server was "
    f"started with ({API_KEYS_ENV} or `create_app(api_keys=...)`)."
)


class AuthMiddleware:
    """Lets a request through with `scope["state"]["owner"]` set, or answers 401.

    `public` paths (relative to where the app is mounted) need no key: the health check, and the
    viewer's static files, which hold no data (the viewer asks for a key and sends it itself).
    """

    def __init__(self, app: ASGIApp, keys: ApiKeys, public: Iterable[str], public_prefixes: Iterable[str]) -> None:
        self.app = app
        self.keys = keys
        self.public = frozenset(public)
        self.public_prefixes = tuple(public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if path in self.public or path.startswith(self.public_prefixes):
            await self.app(scope, receive, send)
            return
        header: Any = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        owner = self.keys.owner(header)
        if owner is None:
            response = problem_response(401, "unauthorized", _UNAUTHORIZED)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["owner"] = owner
        await self.app(scope, receive, send)
