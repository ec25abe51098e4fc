"""The messages a run takes as input: OpenAI-style dicts (`{"role": "user", "content": "..."}`)."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInputError

__all__ = ["validate_messages"]


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Check that `messages` is a list of OpenAI-style message dicts; raise `InvalidInputError`."""
    if messages is None:
        return []
    if not isinstance(messages, list):
        raise InvalidInputError(
            f"`messages` must be a list of message dicts; got {type(messages).__name__}."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidInputError(f"`messages[{i}]` must be a dict; got {type(message).__name__}.")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise InvalidInputError(f"`messages[{i}]` needs a string `role`, e.g. 'user'.")
    return messages
