"""The run engine, private: what executes a run and writes its lifecycle, behind `AgentRunner`.

- `config.py`: `RunnerConfig` (public through `agent_runtime_core`).
- `execution.py`: `RunEngine`, attempts, time limits, retries, cancellation, event publishing.
- `lifecycle.py`: the only writer of RUN_STARTED / RUN_RETRYING / the terminal events, for runs
  executed here or on a worker, and for runs a worker settles without executing them.
- `inputs.py`: a run's input, normalized and checked.
- `results.py`: where a finished run's result is recorded, and its JSON form.
- `backends.py`: the backends named by `configure()`, for a runner given none.
"""
