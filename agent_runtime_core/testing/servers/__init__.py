"""Loopback servers for tests, demos and benchmarks; each listens on 127.0.0.1 only.

- `openai`: `OpenAICompatibleServer`, a `ScriptedModel` behind the OpenAI HTTP API (Chat
  Completions and Responses, streaming included), for any framework's real OpenAI client.
- `anthropic`: `AnthropicCompatibleServer`, the same behind Anthropic's Messages API.
- `otlp`: `OTLPReceiver`, an OTLP/HTTP trace endpoint, and `format_span_tree` to read spans.
- `redis`: `RedisServer`, a real Redis-compatible server on a free port (also a command:
  `python -m agent_runtime_core.testing.servers.redis --port 6379 --appendonly`).

The model servers share their HTTP plumbing (`_http`); the OpenAI wire formats live in `_chat`
and `_responses`. Nothing is imported here, so `python -m ...servers.redis` loads only what it
needs; `OpenAICompatibleServer` and `RedisServer` are also exported by `agent_runtime_core.testing`.
"""
