"""The exceptions of agent-runtime-core.

One root, `AgentRuntimeError`, split in two: `UserError` when the library is used wrongly (fix the
call), `RunError` when a run failed (the runner records it on the run). Messages say what went wrong
and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AgentRuntimeError",
    "BackendError",
    "ConfigurationError",
    "InvalidInputError",
    "NonRetriableError",
    "RunCancelledError",
    "RunError",
    "RunTimeoutError",
    "StepError",
    "UserError",
]


class AgentRuntimeError(Exception):
    """Root of every exception this library raises on purpose."""


class UserError(AgentRuntimeError, ValueError):
    """The library was called wrongly: a bad argument, a missing registration, a bad setting."""


class ConfigurationError(UserError):
    """A setting passed to `configure()` or read from the environment is not valid."""


class BackendError(AgentRuntimeError):
    """A storage or queue backend failed; `__cause__` holds the driver's own exception."""


class RunError(AgentRuntimeError):
    """A run failed. The runner turns these into `ErrorInfo` on the run's result."""

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class NonRetriableError(RunError):
    """Raise (or subclass) this from an agent to fail the run at once, without retries."""


class InvalidInputError(NonRetriableError):
    """The run's input is malformed; retrying cannot help."""


class RunTimeoutError(RunError):
    """A run attempt exceeded `RunnerConfig.run_timeout_seconds`."""


class RunCancelledError(NonRetriableError):
    """The run was cancelled. Agents may raise it when they see `ctx.is_cancelled()`."""


class StepError(RunError):
    """A `Step` failed after all its retries."""

    def __init__(self, message: str, *, step: str, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.step = step
