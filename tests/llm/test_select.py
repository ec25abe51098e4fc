"""get_llm_client(): provider selection from configure(), overrides, clear errors."""

from __future__ import annotations

import pytest

from agent_runtime_core import ConfigurationError, configure
from agent_runtime_core.llm import LLMClient, get_llm_client, use_llm_client
from agent_runtime_core.testing import MockLLMClient


def test_default_provider_is_openai_with_config_key_and_model() -> None:
    configure(openai_api_key="sk-test-select-123456", default_model="gpt-x")
    client = get_llm_client()
    assert type(client).__name__ == "OpenAIClient"
    assert isinstance(client, LLMClient)
    assert client.default_model == "gpt-x"
    assert "sk-test-select-123456" not in repr(client)


def test_unknown_provider_is_a_clear_error_naming_the_available_ones() -> None:
    with pytest.raises(ConfigurationError, match="Available: .*openai"):
        get_llm_client("gemini")


def test_override_wins_unless_a_provider_is_named() -> None:
    mock = MockLLMClient()
    configure(openai_api_key="sk-test-select-123456")
    with use_llm_client(mock):
        assert get_llm_client() is mock
        assert type(get_llm_client("openai")).__name__ == "OpenAIClient"
    assert get_llm_client() is not mock


async def test_overlapping_model_calls_of_one_run_are_told_apart_by_span_id() -> None:
    import asyncio

    from agent_runtime_core import EventType
    from agent_runtime_core.context import use_run_context
    from agent_runtime_core.testing import (
        ScriptedLLMClient,
        ScriptedModel,
        create_test_context,
        reply,
    )

    client = ScriptedLLMClient(ScriptedModel([lambda r: reply(r.last_user_message.upper(), delay=0.05 if "slow" in r.last_user_message else 0.0)]))
    ctx = create_test_context()
    with use_run_context(ctx):
        await asyncio.gather(
            client.generate([{"role": "user", "content": "slow"}]), client.generate([{"role": "user", "content": "fast"}])
        )
    started = ctx.events_of(EventType.LLM_CALL_STARTED)
    completed = ctx.events_of(EventType.LLM_CALL_COMPLETED)
    assert len({e.span_id for e in started}) == 2 and all(e.span_id for e in started)
    assert {e.span_id for e in completed} == {e.span_id for e in started}
    assert completed[0].span_id == started[1].span_id  # the fast call, started second, ends first
