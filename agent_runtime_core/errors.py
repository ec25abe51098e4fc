"""The exceptions of agent-runtime-core.

One root, `AgentRuntimeError`, split in two: `UserError` when the library is used wrongly (fix the
call), `RunError` when a run failed (the runner records it on the run). Messages say what went wrong
and what to do about it.
"""

from __future__ import annotations

from ._secrets import redact

__all__ = [
    "AgentRuntimeError",
    "BackendError",
    "ConfigurationError",
    "CorruptDataError",
    "InvalidInputError",
    "LLMError",
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

    retriable = False
    """Trying the same call again cannot help; the runner does not retry it."""


class ConfigurationError(UserError):
    """A setting passed to `configure()` or read from the environment is not valid."""


class BackendError(AgentRuntimeError):
    """A storage or queue backend failed; `__cause__` holds the driver's own exception."""


class CorruptDataError(BackendError):
    """Stored data cannot be read: damaged, written by something else, or over a limit (too large,
    too deeply nested). Retrying cannot help; the message says which record and why."""


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


class LLMError(AgentRuntimeError):
    """A model provider refused or failed a call.

    Keeps what the provider said (`status_code`, `code`, `error_type`, the message) and whether
    trying again may help (`retriable`: timeouts, connection errors, 408/409/429 and 5xx).
    The message is redacted when built.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str = "",
        retriable: bool = True,
        code: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.status_code = status_code
        """The HTTP status the provider answered with (None for connection errors)."""
        self.provider = provider
        """The provider's name, e.g. `openai`."""
        self.retriable = retriable
        """Whether trying again may succeed."""
        self.code = code
        """The provider's error code, e.g. `rate_limit_exceeded`."""
        self.error_type = error_type
        """The provider's error type, e.g. `invalid_request_error`."""
