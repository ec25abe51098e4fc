"""The exceptions of agent-runtime-core.

One root, `AgentRuntimeError`, split in two: `UserError` when the library is used wrongly (fix the
call), `RunError` when a run failed (the runner records it on the run). Messages say what went wrong
and what to do about it. `ErrorInfo` is how a failure is recorded: a value safe to store and show.
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass, field
from typing import Any

from ._secrets import redact

__all__ = [
    "AgentRuntimeError",
    "BackendError",
    "ConfigurationError",
    "CorruptDataError",
    "ErrorInfo",
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


@dataclass
class ErrorInfo:
    """Why a run (or a step, or a tool call) failed, in a form safe to store and show.

    Messages and tracebacks are redacted: no configured secret or key-shaped string survives.
    """

    type: str
    """The exception's class name, e.g. `RunTimeoutError`."""
    message: str
    """What went wrong."""
    retriable: bool = True
    """Whether trying again may help."""
    traceback: str | None = None
    """The formatted traceback, when there was one."""
    details: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (the step, the attempt, ...)."""

    def __post_init__(self) -> None:
        self.message = redact(self.message)
        if self.traceback:
            self.traceback = redact(self.traceback)

    @classmethod
    def from_exception(cls, exc: BaseException, *, retriable: bool | None = None) -> ErrorInfo:
        """Describe `exc`. It is retriable unless it is a `NonRetriableError`, carries
        `retriable=False` (e.g. an `LLMError` for a 400 or 401), or the caller says otherwise."""
        if retriable is None:
            retriable = _is_retriable(exc)
        tb = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))
        message = str(exc) or type(exc).__name__
        return cls(type=type(exc).__name__, message=message, retriable=retriable, traceback=tb)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the traceback included)."""
        return {
            "type": self.type,
            "message": self.message,
            "retriable": self.retriable,
            "traceback": self.traceback,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        """Read back what `to_dict` wrote."""
        return cls(
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            retriable=bool(data.get("retriable", True)),
            traceback=data.get("traceback"),
            details=dict(data.get("details") or {}),
        )


def _is_retriable(exc: BaseException) -> bool:
    """Whether trying again may help: not for `NonRetriableError`, an explicit `retriable=False`,
    or an HTTP client error (4xx other than 408/409/429) from any SDK that exposes `status_code`."""
    flag = getattr(exc, "retriable", None)
    if isinstance(flag, bool):
        return flag
    if isinstance(exc, NonRetriableError):
        return False
    status = getattr(exc, "status_code", None)
    client_error = isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429)
    return not client_error
