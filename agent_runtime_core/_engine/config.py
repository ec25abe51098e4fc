"""`RunnerConfig`: how runs are treated (time limit, retries and their backoff, cancellation grace)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import UserError

__all__ = ["RunnerConfig"]


@dataclass
class RunnerConfig:
    """How the runner treats runs: time limit, retries and their backoff, cancellation grace."""

    run_timeout_seconds: float | None = 300.0
    """Time limit of one attempt; None for none. A timed-out attempt counts as a failure."""
    max_retries: int = 3
    """Attempts after the first, for failures that may pass (not `NonRetriableError`)."""
    retry_backoff_seconds: float = 1.0
    """Wait before the first retry; later waits grow by `retry_backoff_multiplier`."""
    retry_backoff_multiplier: float = 2.0
    """Growth of the wait from one retry to the next."""
    retry_backoff_max_seconds: float = 60.0
    """Ceiling of the wait between attempts."""
    retry_jitter: float = 0.1
    """Random spread of each wait, as a fraction of it (0.1 = up to +/-10%)."""
    cancel_grace_seconds: float = 5.0
    """After `cancel()`, how long an agent may take to stop by itself (seeing
    `ctx.is_cancelled()`) before its task is cancelled."""

    def __post_init__(self) -> None:
        if self.run_timeout_seconds is not None and not self.run_timeout_seconds > 0:
            raise UserError(f"`run_timeout_seconds` must be > 0 or None; got {self.run_timeout_seconds}.")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise UserError(f"`max_retries` must be an integer >= 0; got {self.max_retries!r}.")
        for name in ("retry_backoff_seconds", "retry_backoff_max_seconds", "cancel_grace_seconds", "retry_jitter"):
            if getattr(self, name) < 0:
                raise UserError(f"`{name}` must be >= 0; got {getattr(self, name)}.")
        if self.retry_backoff_multiplier < 1:
            raise UserError(f"`retry_backoff_multiplier` must be >= 1; got {self.retry_backoff_multiplier}.")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        delay = min(
            self.retry_backoff_seconds * self.retry_backoff_multiplier ** (attempt - 1),
            self.retry_backoff_max_seconds,
        )
        if self.retry_jitter:
            delay *= 1 + random.uniform(-self.retry_jitter, self.retry_jitter)
        return max(delay, 0.0)
