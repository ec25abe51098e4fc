"""A process-wide registry of agents by key, so runs can name their agent (`"my-agent"`)."""

from __future__ import annotations

import difflib
import threading

from .agent import AgentRuntime
from .errors import UserError

__all__ = ["clear_registry", "get_runtime", "list_runtimes", "register_runtime", "unregister_runtime"]

_lock = threading.Lock()
_runtimes: dict[str, AgentRuntime] = {}


class RuntimeNotFoundError(UserError, KeyError):
    """No agent is registered under the key asked for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register_runtime(runtime: AgentRuntime) -> None:
    """Register `runtime` under its `key`.

    Registering again under the same key replaces the old one if it is of the same class (a module
    imported twice); an agent of another class under a taken key is an error.
    """
    if not isinstance(runtime, AgentRuntime):
        raise UserError(f"register_runtime() takes an AgentRuntime instance; got {type(runtime).__name__}.")
    key = runtime.key
    if not isinstance(key, str) or not key.strip():
        raise UserError(f"{type(runtime).__name__}.key must be a non-empty string; got {key!r}.")
    with _lock:
        existing = _runtimes.get(key)
        if existing is not None and type(existing) is not type(runtime):
            raise UserError(
                f"Key {key!r} is already registered to a {type(existing).__name__}; "
                f"call unregister_runtime({key!r}) first to replace it."
            )
        _runtimes[key] = runtime


def get_runtime(key: str) -> AgentRuntime:
    """The agent registered under `key`; raises `RuntimeNotFoundError` naming the known keys."""
    try:
        return _runtimes[key]
    except KeyError:
        known = sorted(_runtimes)
        close = difflib.get_close_matches(key, known, n=1) if isinstance(key, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(map(repr, known)) if known else "none (call register_runtime() first)"
        raise RuntimeNotFoundError(f"No agent registered under {key!r}.{hint} Registered: {listing}.") from None


def list_runtimes() -> list[str]:
    """The registered keys, sorted."""
    return sorted(_runtimes)


def unregister_runtime(key: str) -> None:
    """Remove the agent registered under `key`; raises `RuntimeNotFoundError` if there is none."""
    with _lock:
        if key not in _runtimes:
            get_runtime(key)  # raises with the helpful message
        del _runtimes[key]


def clear_registry() -> None:
    """Remove every registered agent (tests use it between cases)."""
    with _lock:
        _runtimes.clear()
