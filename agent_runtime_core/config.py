"""Process-wide settings: `configure()` to set them, `get_config()` to read them.

A setting comes from, in order: the last `configure()` call that named it, the environment
(`AGENT_RUNTIME_<NAME>`, or the provider's own variable such as `OPENAI_API_KEY`) as it is at the
time of the call, the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from . import _secrets
from .errors import ConfigurationError

__all__ = ["RuntimeConfig", "configure", "get_config", "reset_config"]

_SECRET_FIELDS = frozenset({"openai_api_key", "anthropic_api_key", "langfuse_secret_key"})

# The closed sets a setting may take; anything else is an error naming these.
_CHOICES: dict[str, tuple[str, ...]] = {
    "model_provider": ("openai", "anthropic", "litellm"),
    "engine": ("queue", "temporal"),
    "queue_backend": ("memory", "redis"),
    "event_bus_backend": ("memory", "redis"),
    "state_store_backend": ("memory", "redis", "sqlite"),
}

# Provider-standard variables read after `AGENT_RUNTIME_<NAME>`.
_STANDARD_ENV: dict[str, tuple[str, ...]] = {
    "openai_api_key": ("OPENAI_API_KEY",),
    "openai_base_url": ("OPENAI_BASE_URL",),
    "anthropic_api_key": ("ANTHROPIC_API_KEY",),
    "redis_url": ("REDIS_URL",),
    "temporal_address": ("TEMPORAL_ADDRESS",),
    "temporal_namespace": ("TEMPORAL_NAMESPACE",),
    "temporal_task_queue": ("TEMPORAL_TASK_QUEUE",),
    "langfuse_public_key": ("LANGFUSE_PUBLIC_KEY",),
    "langfuse_secret_key": ("LANGFUSE_SECRET_KEY",),
    "langfuse_host": ("LANGFUSE_HOST", "LANGFUSE_BASE_URL"),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class RuntimeConfig:
    """The runtime's settings. Immutable: change them with `configure()`."""

    model_provider: str = "openai"
    """LLM provider used by `get_llm_client()`: openai, anthropic or litellm."""
    default_model: str = "gpt-4o"
    """Model used when a call names none."""
    engine: str = "queue"
    """Where submitted runs execute: queue (our run queue, `queue_backend`) or temporal
    (Temporal workflows, the `temporal_*` settings; the `temporal` extra)."""
    queue_backend: str = "memory"
    """Run queue: memory or redis."""
    event_bus_backend: str = "memory"
    """Event bus: memory or redis."""
    state_store_backend: str = "memory"
    """State store: memory, redis or sqlite."""
    redis_url: str | None = None
    """Redis connection URL, for the redis backends."""
    sqlite_path: str = "agent_runtime.db"
    """SQLite file, for the sqlite state store."""
    temporal_address: str = "127.0.0.1:7233"
    """Temporal frontend `host:port`, for the temporal engine (falls back to `TEMPORAL_ADDRESS`)."""
    temporal_namespace: str = "default"
    """Temporal namespace (falls back to `TEMPORAL_NAMESPACE`)."""
    temporal_task_queue: str = "agent-runtime"
    """Temporal task queue the workers poll (falls back to `TEMPORAL_TASK_QUEUE`)."""
    openai_api_key: str | None = None
    """OpenAI API key (falls back to `OPENAI_API_KEY`). Never shown in a repr."""
    openai_base_url: str | None = None
    """Base URL of an OpenAI-compatible server (falls back to `OPENAI_BASE_URL`)."""
    anthropic_api_key: str | None = None
    """Anthropic API key (falls back to `ANTHROPIC_API_KEY`). Never shown in a repr."""
    langfuse_enabled: bool = False
    """Send traces to Langfuse."""
    langfuse_public_key: str | None = None
    """Langfuse public key (falls back to `LANGFUSE_PUBLIC_KEY`)."""
    langfuse_secret_key: str | None = None
    """Langfuse secret key (falls back to `LANGFUSE_SECRET_KEY`). Never shown in a repr."""
    langfuse_host: str | None = None
    """Langfuse host, e.g. `https://cloud.langfuse.com` (falls back to `LANGFUSE_HOST`)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value, f.default)
            choices = _CHOICES.get(f.name)
            if choices is not None and value not in choices:
                raise ConfigurationError(
                    f"`{f.name}` must be one of {', '.join(map(repr, choices))}; got {value!r}."
                )
        for name in _SECRET_FIELDS:
            _secrets.register_secret(getattr(self, name))

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS:
                value = _secrets.mask(value)
            elif isinstance(value, str):
                value = _secrets.redact(value)  # e.g. a password inside redis_url
            parts.append(f"{f.name}={value!r}")
        return f"RuntimeConfig({', '.join(parts)})"

    __str__ = __repr__

    def with_settings(self, **settings: Any) -> RuntimeConfig:
        """A copy with `settings` changed, validated like `configure()`."""
        _check_names(settings)
        return dataclasses.replace(self, **settings)


def _check_type(name: str, value: Any, default: Any) -> None:
    if name == "langfuse_enabled":
        if not isinstance(value, bool):
            raise ConfigurationError(f"`{name}` must be True or False; got {value!r}.")
    elif value is not None and not isinstance(value, str):
        raise ConfigurationError(f"`{name}` must be a string; got {type(value).__name__}.")
    elif value is None and default is not None:
        raise ConfigurationError(f"`{name}` cannot be None.")


_NAMES = tuple(f.name for f in fields(RuntimeConfig))


def _check_names(settings: dict[str, Any]) -> None:
    for name in settings:
        if name not in _NAMES:
            close = difflib.get_close_matches(name, _NAMES, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ConfigurationError(
                f"Unknown setting `{name}`.{hint} Known settings: {', '.join(_NAMES)}."
            )


# Every variable a setting may come from, in the order `_from_env` reads them.
_ENV_VARS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, (f"AGENT_RUNTIME_{name.upper()}", *_STANDARD_ENV.get(name, ()))) for name in _NAMES
)
_ALL_VARS: tuple[str, ...] = tuple(var for _, names in _ENV_VARS for var in names)


def _env_reader() -> Callable[[], tuple[str | bytes | None, ...]]:
    """A function returning the current values of `_ALL_VARS`, as cheaply as possible.

    `get_config()` compares them on every call, so it must be cheap: `os.environ.get` costs about
    0.7 us a name (it encodes each key); a lookup in os.environ's own mapping with pre-encoded keys
    costs about 0.03 us. Any other Python falls back to `os.environ.get`.
    """
    data = getattr(os.environ, "_data", None)
    encodekey = getattr(os.environ, "encodekey", None)
    if isinstance(data, dict) and callable(encodekey):
        try:
            keys = tuple(encodekey(var) for var in _ALL_VARS)
        except Exception:
            keys = None
        if keys is not None:
            return lambda: tuple(map(data.get, keys))
    return lambda: tuple(map(os.environ.get, _ALL_VARS))


_read_env_values = _env_reader()


def _from_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, variables in _ENV_VARS:
        for var in variables:
            raw = os.environ.get(var)
            if raw is None:
                continue
            if name == "langfuse_enabled":
                lowered = raw.strip().lower()
                if lowered not in _TRUE | _FALSE:
                    raise ConfigurationError(
                        f"Environment variable {var} must be true or false; got {raw!r}."
                    )
                values[name] = lowered in _TRUE
            else:
                values[name] = raw.strip()
            break
    return values


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
# The configuration last built, with the environment values it was built from.
_current: tuple[tuple[str | bytes | None, ...], RuntimeConfig] | None = None


def configure(**settings: Any) -> RuntimeConfig:
    """Set runtime settings for this process and return the resulting configuration.

    Settings named here win over the environment; settings not named keep following it. An
    unknown name or a backend/provider outside its allowed values raises `ConfigurationError`.
    """
    global _current
    _check_names(settings)
    with _lock:
        merged = {**_overrides, **settings}
        env = _read_env_values()
        config = RuntimeConfig(**{**_from_env(), **merged})  # validates before we commit
        _overrides.clear()
        _overrides.update(merged)
        _current = (env, config)
    return config


def get_config() -> RuntimeConfig:
    """The current configuration: `configure()`'s settings over the environment as it is now.

    The environment is read when it is read: a variable set or changed after an earlier call is
    seen by the next one (and by clients built after it), as the providers' own SDKs do.
    """
    global _current
    env = _read_env_values()
    current = _current
    if current is not None and current[0] == env:
        return current[1]
    with _lock:
        current = _current
        if current is None or current[0] != env:
            current = _current = (env, RuntimeConfig(**{**_from_env(), **_overrides}))
    return current[1]


def reset_config() -> None:
    """Forget every `configure()` call: settings follow the environment (and defaults) again."""
    global _current
    with _lock:
        _overrides.clear()
        _current = None
