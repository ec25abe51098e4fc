"""Test doubles and offline model serving, public so users test their agents the way we do.

- `MockLLMClient`, `MockRunContext`, `create_test_context`, `run_agent_test`: unit-test an agent.
- `ScriptedModel`, `ScriptedLLMClient`: a deterministic model following a script.
- `OpenAICompatibleServer`: serves a `ScriptedModel` on 127.0.0.1 with the OpenAI HTTP API (chat
  completions and Responses, streaming included), so any framework's real client runs offline.
"""

from __future__ import annotations

from .mock import MockLLMClient, MockRunContext, UnexpectedLLMCall, create_test_context, run_agent_test

__all__ = ["MockLLMClient", "MockRunContext", "UnexpectedLLMCall", "create_test_context", "run_agent_test"]
