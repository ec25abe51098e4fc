"""docs/adapters.md's minimal adapter runs, and its events are the grammar it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent_runtime_core import AgentRunner, EventType, RunStatus
from agent_runtime_core.events.grammar import check_events

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def _example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (code,) = [b for b in blocks if "class ToyRuntime" in b]
    namespace: dict[str, Any] = {"__name__": "adapters_doc_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


async def test_the_minimal_adapter_of_the_docs_runs() -> None:
    example = _example()
    runner = AgentRunner()
    result = await runner.execute(example["ToyRuntime"](example["ToyFramework"]()), run_id="toy", input_data="Why?")
    assert result.status is RunStatus.SUCCEEDED and result.final_output == {"response": "The answer is 42."}
    events = await runner.event_bus.get_events("toy")
    check_events(events, strict=True)
    assert [e.type.name for e in events] == [
        "RUN_STARTED", "STEP_STARTED", "LLM_CALL_STARTED", "ASSISTANT_DELTA", "LLM_CALL_COMPLETED",
        "TOOL_CALL", "TOOL_RESULT", "STEP_COMPLETED", "RUN_SUCCEEDED",
    ]
    completed = next(e for e in events if e.type is EventType.LLM_CALL_COMPLETED)
    assert completed.payload["usage"] == {"input_tokens": 12, "output_tokens": 3}
