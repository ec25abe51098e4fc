"""Shared fixtures: every test starts with a clean configuration, registry and environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from agent_runtime_core import _secrets, clear_registry
from agent_runtime_core.config import reset_config

# Hypothesis: no example database (nothing written into the checkout; a failure prints the example
# to reproduce it), no per-example deadline (a loaded CI machine must not fail a test), and a
# bounded number of examples so `make test` stays fast. HYPOTHESIS_PROFILE=thorough runs more.
settings.register_profile(
    "agent-runtime",
    database=None,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("agent-runtime"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "agent-runtime"))

_ENV_PREFIXES = ("AGENT_RUNTIME_", "OPENAI_", "ANTHROPIC_", "LANGFUSE_")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name == "REDIS_URL":
            monkeypatch.delenv(name)
    reset_config()
    clear_registry()
    known_secrets = set(_secrets._known)
    yield
    reset_config()
    clear_registry()
    _secrets._known.clear()  # secrets one test registered must not mask another test's text
    _secrets._known.update(known_secrets)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes: this checkout importable, no provider secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    """The interpreter running the tests, for child processes."""
    return sys.executable
