"""`ConversationStore`: conversations with all their messages, tool calls and branches; and the
conversation helpers the built-in backends share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from uuid import UUID

from agent_runtime_core.errors import UserError

from ._model import as_utc, utcnow
from .base import RecordNotFoundError, Scope, coerce_id, page, require
from .models import Conversation, ConversationMessage

__all__ = ["ConversationStore"]


class ConversationStore(ABC):
    """Conversations with all their messages, tool calls and branches.

    Required: `save`, `get`, `delete`, `list_conversations`. The rest has defaults built on those;
    the defaults of `add_message` read and rewrite the whole conversation, so override it if
    several writers append to one conversation at once (the built-in backends do).
    """

    @abstractmethod
    async def save(self, conversation: Conversation, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `conversation` (and all its messages)."""

    @abstractmethod
    async def get(
        self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Conversation | None:
        """The conversation, or None."""

    @abstractmethod
    async def delete(self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the conversation; True if it existed."""

    @abstractmethod
    async def list_conversations(
        self,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = 100,
        offset: int = 0,
        agent_key: str | None = None,
    ) -> list[Conversation]:
        """Conversations, most recently updated first, optionally of one agent only."""

    async def add_message(
        self,
        conversation_id: UUID | str,
        message: ConversationMessage,
        scope: Scope | str = Scope.PROJECT,
    ) -> None:
        """Append `message` to an existing conversation and move its `updated_at` forward.

        Raises `RecordNotFoundError` if there is no such conversation, `UserError` if a message
        with the same id is already there.
        """
        conv = await self.get(conversation_id, scope)
        if conv is None:
            raise RecordNotFoundError(f"No conversation {conversation_id} in scope {scope!s}.")
        append_message(conv, message)
        await self.save(conv, scope)

    async def get_messages(
        self,
        conversation_id: UUID | str,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[ConversationMessage]:
        """The messages (all branches) in order; with `before`, only older ones; with `limit`,
        only the last `limit` of those. Empty if there is no such conversation."""
        conv = await self.get(conversation_id, scope)
        if conv is None:
            return []
        return select_messages(conv.messages, limit, before)

    async def get_branch_path(
        self,
        conversation_id: UUID | str,
        branch_id: UUID | str | None = None,
        scope: Scope | str = Scope.PROJECT,
    ) -> list[ConversationMessage]:
        """The messages a reader of `branch_id` sees, oldest first.

        With `branch_id=None`, the conversation's active branch (`active_branch_id`, itself None
        for the main line). Empty if there is no such conversation.
        """
        conv = await self.get(conversation_id, scope)
        if conv is None:
            return []
        if branch_id is None:
            return conv.active_path()
        return conv.branch_path(coerce_id(branch_id, "branch_id"))

    async def search(
        self, query: str, scope: Scope | str = Scope.PROJECT, limit: int | None = 20
    ) -> list[Conversation]:
        """Conversations whose title, summary or a text message contains `query` (ignoring
        case), most recently updated first."""
        needle = query.casefold()
        found = [
            c
            for c in await self.list_conversations(scope, limit=None)
            if conversation_matches(c, needle)
        ]
        return page(found, limit, 0)

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def append_message(conv: Conversation, message: ConversationMessage) -> None:
    """Append `message` to `conv` (refusing a duplicate id) and move `updated_at` forward."""
    require(message, ConversationMessage, "message")
    if any(m.id == message.id for m in conv.messages):
        raise UserError(f"Conversation {conv.id} already has a message with id {message.id}.")
    conv.messages.append(message)
    conv.updated_at = max(conv.updated_at, utcnow())


def select_messages(
    messages: list[ConversationMessage], limit: int | None, before: datetime | None
) -> list[ConversationMessage]:
    """The messages older than `before`, then the last `limit` of them."""
    if before is not None:
        cutoff = as_utc(before)
        messages = [m for m in messages if m.timestamp < cutoff]
    if limit is not None:
        messages = messages[-limit:] if limit > 0 else []
    return messages


def conversation_matches(conv: Conversation, needle: str) -> bool:
    """Whether the (case-folded) `needle` is in the title, summary or a text message."""
    texts: list[str] = [conv.title or "", conv.summary or ""]
    texts.extend(m.content for m in conv.messages if isinstance(m.content, str))
    return any(needle in t.casefold() for t in texts)
