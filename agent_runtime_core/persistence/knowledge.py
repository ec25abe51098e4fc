"""`KnowledgeStore` (optional): facts, summaries and embeddings an agent learns, with similarity
search by cosine; and the knowledge helpers the built-in backends share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from uuid import UUID

from agent_runtime_core.errors import UserError

from .base import Scope, _not_implemented, optional_enum, optional_id, page
from .models import Embedding, Fact, FactType, Summary

__all__ = ["KnowledgeStore", "cosine_similarity"]


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between `a` and `b`, in [-1, 1]; 0.0 if either is all zeros."""
    if len(a) != len(b):
        raise UserError(f"Vectors have different lengths ({len(a)} and {len(b)}).")
    # Scale each vector by its largest component first: the cosine does not change, and squares
    # of very small or very large components no longer underflow or overflow.
    scale_a = max((abs(x) for x in a), default=0.0)
    scale_b = max((abs(y) for y in b), default=0.0)
    if scale_a == 0.0 or scale_b == 0.0:
        return 0.0
    a = [x / scale_a for x in a]
    b = [y / scale_b for y in b]
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(y * y for y in b))
    return max(-1.0, min(1.0, dot / (norm_a * norm_b)))


def rank_by_similarity(
    query: Sequence[float], embeddings: Iterable[Embedding], limit: int, min_score: float | None
) -> list[tuple[Embedding, float]]:
    """The `limit` embeddings most similar to `query`, best first, with their scores."""
    if not query:
        raise UserError("`query_vector` must not be empty.")
    scored: list[tuple[Embedding, float]] = []
    for emb in embeddings:
        if len(emb.vector) != len(query):
            raise UserError(
                f"Embedding {emb.id} has {len(emb.vector)} dimensions but the query has "
                f"{len(query)}; search embeddings of one model at a time (filter by content_type)."
            )
        score = cosine_similarity(query, emb.vector)
        if min_score is None or score >= min_score:
            scored.append((emb, score))
    scored.sort(key=lambda pair: (-pair[1], str(pair[0].id)))
    return scored[:limit]


class KnowledgeStore(ABC):
    """Optional: facts, summaries and embeddings an agent learns.

    Required: `save_fact`, `get_fact`. Optional: everything else (the built-in backends implement
    all of it). `search_similar` ranks embeddings by cosine similarity.
    """

    @abstractmethod
    async def save_fact(self, fact: Fact, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `fact`."""

    @abstractmethod
    async def get_fact(
        self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Fact | None:
        """The fact, or None."""

    async def get_fact_by_key(self, key: str, scope: Scope | str = Scope.PROJECT) -> Fact | None:
        """The most recently updated fact with this `key`, or None."""
        facts = [f for f in await self.list_facts(scope) if f.key == key]
        return max(facts, key=lambda f: f.updated_at) if facts else None

    async def list_facts(
        self,
        scope: Scope | str = Scope.PROJECT,
        fact_type: FactType | str | None = None,
        limit: int | None = None,
    ) -> list[Fact]:
        """Facts, of one type if given, most recently updated first."""
        raise _not_implemented(self, "list_facts")

    async def delete_fact(self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the fact; True if it existed."""
        raise _not_implemented(self, "delete_fact")

    async def save_summary(self, summary: Summary, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `summary`."""
        raise _not_implemented(self, "save_summary")

    async def get_summary(
        self, summary_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Summary | None:
        """The summary, or None."""
        raise _not_implemented(self, "get_summary")

    async def list_summaries(
        self, scope: Scope | str = Scope.PROJECT, conversation_id: UUID | str | None = None
    ) -> list[Summary]:
        """Summaries, of one conversation if given, newest first."""
        raise _not_implemented(self, "list_summaries")

    async def save_embedding(
        self, embedding: Embedding, scope: Scope | str = Scope.PROJECT
    ) -> None:
        """Create or replace `embedding`."""
        raise _not_implemented(self, "save_embedding")

    async def get_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Embedding | None:
        """The embedding, or None."""
        raise _not_implemented(self, "get_embedding")

    async def delete_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> bool:
        """Remove the embedding; True if it existed."""
        raise _not_implemented(self, "delete_embedding")

    async def search_similar(
        self,
        query_vector: Sequence[float],
        scope: Scope | str = Scope.PROJECT,
        limit: int = 10,
        content_type: str | None = None,
        min_score: float | None = None,
    ) -> list[tuple[Embedding, float]]:
        """The `limit` embeddings most similar to `query_vector` (cosine), best first, each with
        its score in [-1, 1]. All compared embeddings must have the query's length."""
        raise _not_implemented(self, "search_similar")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def filter_facts(
    facts: Iterable[Fact], fact_type: FactType | str | None, limit: int | None
) -> list[Fact]:
    """Facts of `fact_type` (all if None), most recently updated first, at most `limit`."""
    ft = optional_enum(FactType, fact_type, "fact_type")
    out = [f for f in facts if ft is None or f.fact_type is ft]
    out.sort(key=lambda f: (f.updated_at, str(f.id)), reverse=True)
    return page(out, limit, 0)


def filter_summaries(
    summaries: Iterable[Summary], conversation_id: UUID | str | None
) -> list[Summary]:
    """Summaries of `conversation_id` (all if None), newest first."""
    cid = optional_id(conversation_id, "conversation_id")
    out = [s for s in summaries if cid is None or s.conversation_id == cid]
    out.sort(key=lambda s: (s.created_at, str(s.id)), reverse=True)
    return out
