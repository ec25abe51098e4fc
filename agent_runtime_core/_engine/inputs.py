"""A run's input, normalized and checked before anything runs."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from ..messages import validate_messages

__all__ = ["parse_input"]


def parse_input(input_data: Any) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Normalize a run's input to (messages, metadata, input_data).

    Accepts `{"messages": [...], "metadata": {...}, ...}`, a list of messages, or a string (one
    user message). Anything else raises `InvalidInputError`.
    """
    if input_data is None:
        return [], {}, {}
    if isinstance(input_data, str):
        input_data = {"messages": [{"role": "user", "content": input_data}]}
    elif isinstance(input_data, list):
        input_data = {"messages": input_data}
    if not isinstance(input_data, dict):
        raise InvalidInputError(
            f"`input_data` must be a dict like {{'messages': [...]}}; got {type(input_data).__name__}."
        )
    messages = validate_messages(input_data.get("messages"))
    metadata = input_data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise InvalidInputError(f"`input_data['metadata']` must be a dict; got {type(metadata).__name__}.")
    return messages, metadata, input_data
