"""The demo's agents behind HTTP: the run API, SSE, AG-UI and the run viewer.

    pip install 'agent-runtime-core[serve]'
    agent-runtime serve --app app              # from this folder; open http://127.0.0.1:8000/

Set AGENT_RUNTIME_API_KEYS to require `Authorization: Bearer <key>` (the viewer asks for it).
`agent-runtime serve` imports this module (which registers the agents) and serves `runner`.
Everything runs offline: the agents' model is a canned one (agent_runtime_core.serve.demo).
"""

from __future__ import annotations

from agent_runtime_core import AgentRunner, RunnerConfig, register_runtime
from agent_runtime_core.serve.demo import demo_agents
from agent_runtime_core.state import SQLiteStateStore

for agent in demo_agents():
    register_runtime(agent)

# Checkpoints in SQLite, so an interrupted run can be resumed after a restart of the server.
runner = AgentRunner(
    RunnerConfig(run_timeout_seconds=120, max_retries=1, retry_backoff_seconds=0.2),
    state_store=SQLiteStateStore(".agent-runtime/serve-example.db"),
)
