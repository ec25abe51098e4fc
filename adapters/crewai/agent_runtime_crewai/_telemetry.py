"""CrewAI's outbound telemetry: off by default, with a documented way to turn it on.

CrewAI sends anonymous usage telemetry (an OTLP export to telemetry.crewai.com at exit) and can
upload execution traces. An agent runtime must not phone home unless its user asked for it, so
importing `agent_runtime_crewai` sets CrewAI's own switches *unless they are already set*:

- `CREWAI_DISABLE_TELEMETRY=true` and `CREWAI_DISABLE_TRACKING=true` (anonymous telemetry),
- `CREWAI_TRACING_ENABLED=false` (trace upload and the first-run tracing prompt).

An explicit value in the environment always wins. To keep CrewAI's telemetry on, set
`AGENT_RUNTIME_CREWAI_TELEMETRY=on` before importing the adapter, or call
`enable_crewai_telemetry()` (it removes only the defaults this module set). `OTEL_SDK_DISABLED`
is never touched: it would also switch off the application's own OpenTelemetry.
"""

from __future__ import annotations

import os

__all__ = ["OPT_IN_ENV", "TELEMETRY_DEFAULTS", "apply_telemetry_defaults", "enable_crewai_telemetry"]

OPT_IN_ENV = "AGENT_RUNTIME_CREWAI_TELEMETRY"
"""Set to `on`/`true`/`1` to leave CrewAI's telemetry settings alone."""

TELEMETRY_DEFAULTS: dict[str, str] = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
}
"""The environment defaults applied at import (never overriding a value already set)."""

_applied: dict[str, str] = {}


def _opted_in() -> bool:
    return os.environ.get(OPT_IN_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def apply_telemetry_defaults() -> dict[str, str]:
    """Set CrewAI's telemetry switches to "off" where the environment does not say otherwise.

    Returns the variables this call set (empty when the user opted in or set them all).
    """
    if _opted_in():
        return {}
    newly: dict[str, str] = {}
    for name, value in TELEMETRY_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            newly[name] = value
    _applied.update(newly)
    return newly


def enable_crewai_telemetry() -> None:
    """Undo the adapter's telemetry defaults, so CrewAI's own settings apply again.

    Only the variables the adapter set are removed; values the user set stay. CrewAI reads these
    variables each time it would send telemetry, so this takes effect without a restart.
    """
    for name, value in list(_applied.items()):
        if os.environ.get(name) == value:
            del os.environ[name]
        del _applied[name]
