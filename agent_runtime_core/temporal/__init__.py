"""The Temporal engine: every submitted run a durable Temporal workflow, with the runner's calls
unchanged (`pip install 'agent-runtime-core[temporal]'`).

```python
runner = AgentRunner(engine=TemporalEngine("127.0.0.1:7233", task_queue="agents"),
                     event_bus=RedisEventBus(url), state_store=RedisStateStore(url))
run_id = await runner.submit("agent-key", {"messages": [...]})
```

Workers: `await runner.serve()` or `agent-runtime worker --app MODULE --engine temporal`. A run
is a workflow whose id is the run id; each attempt is an activity that executes the agent with the
runner's engine, so events, checkpoints and traces are ours (docs/deployment.md, "Temporal").
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in an environment without the extra
    raise ImportError(
        "The Temporal engine needs the Temporal SDK: pip install 'agent-runtime-core[temporal]'."
    ) from e

from ._engine import TemporalEngine

__all__ = ["TemporalEngine"]
