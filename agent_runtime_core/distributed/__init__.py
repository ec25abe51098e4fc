"""Distributed execution: submit runs to a queue, serve them from workers, wait for their results.

The pieces, whatever the backends (in-memory for one process, Redis for many machines):

- `submit()` validates a run's input and puts it on the runner's `RunQueue`; submitting a run id
  that is queued, running or finished changes nothing.
- `Worker.serve()` takes runs from the queue (at most `concurrency` at once), executes each with
  the runner's engine, records its result under its run id in the runner's `StateStore`, then
  acknowledges it. A heartbeat renews the leases of the runs it holds; a run whose worker died goes
  back to the queue when its lease expires and resumes from its last checkpoint elsewhere.
- `wait()` returns a run's recorded result; `events()` reads or follows its event stream.
- `request_cancel()` reaches a run on any worker (the runner's `cancel()` calls it for runs it
  does not hold itself).
- `dead_letters()` / `requeue_dead_letters()`: the runs workers refused, and another chance.

`AgentRunner.submit / serve / wait / events / cancel` are the usual way in; the functions here take
the runner as their first argument. The client side is in `client.py`, the serve loop in
`worker.py`.
"""

from __future__ import annotations

from .._engine.results import (
    MAX_RUN_ID_LENGTH,
    RESULT_KEY_PREFIX,
    result_from_dict,
    result_key,
    result_to_dict,
)
from .client import (
    DEFAULT_MAX_INPUT_BYTES,
    dead_letters,
    events,
    get_result,
    request_cancel,
    requeue_dead_letters,
    submit,
    wait,
)
from .worker import PoisonRunError, Worker, WorkerConfig

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "MAX_RUN_ID_LENGTH",
    "RESULT_KEY_PREFIX",
    "PoisonRunError",
    "Worker",
    "WorkerConfig",
    "dead_letters",
    "events",
    "get_result",
    "request_cancel",
    "requeue_dead_letters",
    "result_from_dict",
    "result_key",
    "result_to_dict",
    "submit",
    "wait",
]
