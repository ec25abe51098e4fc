"""The QueuedRun type; the RunQueue contract runs over every queue (InMemoryQueue included) in
tests/contracts."""

from __future__ import annotations

import pytest

from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.queue import QueuedRun


def run(run_id: str, priority: int = 0) -> QueuedRun:
    return QueuedRun(run_id=run_id, agent_key="agent", input_data={"messages": []}, priority=priority)


def test_queued_run_round_trip_and_validation() -> None:
    item = run("r", priority=3)
    assert QueuedRun.from_dict(item.to_dict()) == item
    for bad in (None, [], {"run_id": "", "agent_key": "a"}, {"run_id": "r"}, {"run_id": "r", "agent_key": "a", "input_data": "x"}, {"run_id": "r", "agent_key": "a", "priority": "high"}):
        with pytest.raises(InvalidInputError):
            QueuedRun.from_dict(bad)
