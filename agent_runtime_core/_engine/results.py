"""A run's recorded result: where it is stored and how it is written and read back.

Workers record each run's result in the runner's `StateStore` under `run-result:<run_id>`, so any
process can `wait()` for it, and a run delivered again after it finished is acked, not re-run.
"""

from __future__ import annotations

import time
from typing import Any

from ..agent import RunResult, RunStatus
from ..errors import ErrorInfo
from ..state.base import MAX_KEY_LENGTH, StateStore

__all__ = [
    "MAX_RUN_ID_LENGTH",
    "RESULT_KEY_PREFIX",
    "get_result",
    "result_from_dict",
    "result_key",
    "result_to_dict",
]

RESULT_KEY_PREFIX = "run-result:"
"""Results are stored in the runner's state store under `run-result:<run_id>`."""

MAX_RUN_ID_LENGTH = MAX_KEY_LENGTH - len(RESULT_KEY_PREFIX)
"""Longest run id `submit` accepts: its result key must fit the state stores' key limit."""


def result_key(run_id: str) -> str:
    """The state-store key of a run's result."""
    return RESULT_KEY_PREFIX + str(run_id)


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """A JSON-ready dict of a result; `result_from_dict` reads it back."""
    return {
        "run_id": result.run_id,
        "status": str(result.status) if result.status is not None else None,
        "final_output": result.final_output,
        "final_messages": result.final_messages,
        "error": result.error.to_dict() if result.error else None,
        "attempts": result.attempts,
        "interrupt": result.interrupt,
        "finished_at": time.time(),
    }


def result_from_dict(data: dict[str, Any]) -> RunResult:
    """Read back what `result_to_dict` wrote."""
    status = data.get("status")
    return RunResult(
        final_output=dict(data.get("final_output") or {}),
        final_messages=data.get("final_messages"),
        error=ErrorInfo.from_dict(data["error"]) if data.get("error") else None,
        run_id=data.get("run_id"),
        status=RunStatus(status) if status else None,
        attempts=int(data.get("attempts") or 0),
        interrupt=data.get("interrupt"),
    )


async def get_result(state_store: StateStore, run_id: str) -> RunResult | None:
    """The recorded result of a run, or None if it has not finished (or its result expired)."""
    data = await state_store.get(result_key(run_id))
    return None if data is None else result_from_dict(data)
