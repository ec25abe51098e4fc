"""A deterministic scripted model, for tests and demos that must run offline.

`ScriptedModel` plays a script of turns: reply with text, call tools, fail with an HTTP-style
error, optionally after a delay. It is a pure function of the request: the turn played is chosen
from the conversation the request carries, never from how many calls came before, so any number
of concurrent conversations (runs of different agents, different frameworks, different event loops
and threads) can share one model and each gets the turn that fits its own conversation.

**The turn rule.** A request's turn index is the number of assistant messages in its conversation
after the last user message (the default, `count_turns_from="last_user"`): the first model call of
a run plays turn 0, the call after the tool results plays turn 1, and so on; a new user message
starts the script again, so one script describes one agent run and serves every run and every
follow-up message. With `count_turns_from="start"` every assistant message of the conversation
counts instead, so a multi-message chat walks through the script once. Several function calls of
one reply are one assistant message (the loopback server merges Responses-API items the same way).

The same script runs in-process (`ScriptedLLMClient`, a `BaseLLMClient`) or behind the loopback
OpenAI-compatible HTTP server (`agent_runtime_core.testing.OpenAICompatibleServer`), so a
framework's own client code can be exercised against it. Token usage and tool-call ids are
deterministic: usage is `ceil(characters / 4)` (at least 1) for the conversation and the reply, and
a tool call without an explicit id gets `call_<n>_<name>`, where `n` counts the assistant messages
already in the conversation, so the same run produces equal event payloads whatever the framework.

The package is a facade over three private modules: `_turns` (what a request looks like to a
script, the turns and their builders), `_model` (the engine that picks and plays a turn) and
`_client` (the in-process `LLMClient`).

Example::

    model = ScriptedModel([
        call_tool("get_weather", {"city": "Paris"}),
        reply(lambda req: f"It is {req.tool_results[-1].content} in Paris."),
    ])
    client = ScriptedLLMClient(model)
"""

from __future__ import annotations

from ._client import ScriptedLLMClient
from ._model import (
    DEFAULT_MODEL_NAME,
    Resolved,
    ScriptedFailure,
    ScriptedModel,
    ScriptExhaustedError,
    count_tokens,
    split_text,
)
from ._turns import (
    Failure,
    ScriptEntry,
    ScriptRequest,
    ToolCall,
    ToolResult,
    Turn,
    call_tool,
    call_tools,
    fail,
    message_text,
    reply,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "Failure",
    "Resolved",
    "ScriptEntry",
    "ScriptExhaustedError",
    "ScriptRequest",
    "ScriptedFailure",
    "ScriptedLLMClient",
    "ScriptedModel",
    "ToolCall",
    "ToolResult",
    "Turn",
    "call_tool",
    "call_tools",
    "count_tokens",
    "fail",
    "message_text",
    "reply",
    "split_text",
]
