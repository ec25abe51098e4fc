"""Model clients: the `LLMClient` protocol, `get_llm_client()`, and provider clients (extras)."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from ..errors import ConfigurationError, LLMError
from .base import BaseLLMClient, LLMClient, LLMResponse, LLMStreamChunk, StreamChunkType, Usage

if TYPE_CHECKING:
    from .anthropic import AnthropicClient
    from .litellm import LiteLLMClient
    from .openai import OpenAIClient

__all__ = [
    "AnthropicClient",
    "BaseLLMClient",
    "LLMClient",
    "LLMError",
    "LLMResponse",
    "LLMStreamChunk",
    "LiteLLMClient",
    "OpenAIClient",
    "StreamChunkType",
    "Usage",
    "get_llm_client",
    "use_llm_client",
]

# provider -> (module, class); modules import their SDK lazily and name the extra when it is missing.
_PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": (".openai", "OpenAIClient"),
    "anthropic": (".anthropic", "AnthropicClient"),
    "litellm": (".litellm", "LiteLLMClient"),
}
__getattr__, __dir__ = lazy_exports(__name__, {cls: module for module, cls in _PROVIDERS.values()})

_CACHE_SIZE = 16
_cache: dict[tuple[str, object, str], LLMClient] = {}
_cache_lock = threading.Lock()

_override: ContextVar[LLMClient | None] = ContextVar("agent_runtime_llm_override", default=None)


@contextlib.contextmanager
def use_llm_client(client: LLMClient) -> Iterator[LLMClient]:
    """Make `get_llm_client()` return `client` inside this block (and in tasks started in it).

    Scoped with a context variable, so concurrent runs and tests do not see each other's client.
    """
    token = _override.set(client)
    try:
        yield client
    finally:
        _override.reset(token)


def get_llm_client(provider: str | None = None, **kwargs: Any) -> LLMClient:
    """The LLM client for `provider` (default: `configure(model_provider=...)`).

    Inside `use_llm_client()` (and `run_agent_test(..., llm=...)`) that client is returned
    instead. Keyword arguments go to the client's constructor (api_key, default_model, ...).
    """
    override = _override.get()
    if override is not None and provider is None:
        return override
    from ..config import get_config

    name = provider or get_config().model_provider
    target = _PROVIDERS.get(name)
    if target is None:
        raise ConfigurationError(
            f"No LLM client for provider {name!r} in this release. Available: "
            f"{', '.join(sorted(_PROVIDERS))}; or pass any object implementing LLMClient, e.g. "
            "with use_llm_client()."
        )
    # One client per provider, settings and arguments: agents call get_llm_client() in every run,
    # and a provider client owns a connection pool that should be reused, not rebuilt per run.
    config = get_config()
    # Keyed by the settings' values: a changed environment (say OPENAI_BASE_URL) gives a new client.
    key = (name, config, repr(sorted(kwargs.items())))
    with _cache_lock:
        client = _cache.get(key)
        if client is None:
            module, cls = target
            client_cls = getattr(importlib.import_module(module, __name__), cls)
            client = _cache[key] = client_cls(**kwargs)
            while len(_cache) > _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
        return client
