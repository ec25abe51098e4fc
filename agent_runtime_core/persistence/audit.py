"""`AuditStore` (optional): the interaction log, the error history and performance metrics; and
the audit helpers the built-in backends share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from ._model import as_utc, utcnow
from .base import Scope, _not_implemented, optional_enum, optional_id, page
from .models import AuditEntry, AuditEventType, ErrorRecord, ErrorSeverity, PerformanceMetric

__all__ = ["AuditStore"]


class AuditStore(ABC):
    """Optional: the interaction log, the error history and performance metrics.

    Required: `log_event`, `log_error`, `record_metric`. Optional: the queries and
    `resolve_error` (the built-in backends implement all of them). Time ranges include `since`
    and exclude `until`; naive datetimes are taken as UTC.
    """

    @abstractmethod
    async def log_event(self, entry: AuditEntry, scope: Scope | str = Scope.PROJECT) -> None:
        """Record an interaction."""

    @abstractmethod
    async def log_error(self, error: ErrorRecord, scope: Scope | str = Scope.PROJECT) -> None:
        """Record an error (or replace the record with the same id)."""

    @abstractmethod
    async def record_metric(
        self, metric: PerformanceMetric, scope: Scope | str = Scope.PROJECT
    ) -> None:
        """Record a measurement."""

    async def get_events(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        event_type: AuditEventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        conversation_id: UUID | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, oldest first (the first `limit`)."""
        raise _not_implemented(self, "get_events")

    async def get_errors(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        severity: ErrorSeverity | str | None = None,
        resolved: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[ErrorRecord]:
        """Error records matching every filter given, oldest first."""
        raise _not_implemented(self, "get_errors")

    async def resolve_error(
        self, error_id: UUID | str, resolution: str, scope: Scope | str = Scope.PROJECT
    ) -> ErrorRecord:
        """Mark an error resolved now, with how; returns the record. `RecordNotFoundError` if
        there is no such error."""
        raise _not_implemented(self, "resolve_error")

    async def get_metrics(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PerformanceMetric]:
        """Measurements matching every filter given, oldest first."""
        raise _not_implemented(self, "get_metrics")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def mark_resolved(error: ErrorRecord, resolution: str) -> ErrorRecord:
    """`error`, changed in place to say it was resolved now, with `resolution`."""
    error.resolved = True
    error.resolved_at = utcnow()
    error.resolution = resolution
    return error


def _in_range(ts: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or ts >= as_utc(since)) and (until is None or ts < as_utc(until))


def filter_events(
    entries: Iterable[AuditEntry],
    event_type: AuditEventType | str | None,
    since: datetime | None,
    until: datetime | None,
    conversation_id: UUID | str | None,
    limit: int | None,
) -> list[AuditEntry]:
    """Entries matching every filter given, oldest first, at most `limit`."""
    et = optional_enum(AuditEventType, event_type, "event_type")
    cid = optional_id(conversation_id, "conversation_id")
    out = [
        e
        for e in entries
        if (et is None or e.event_type is et)
        and (cid is None or e.conversation_id == cid)
        and _in_range(e.timestamp, since, until)
    ]
    out.sort(key=lambda e: (e.timestamp, str(e.id)))
    return page(out, limit, 0)


def filter_errors(
    errors: Iterable[ErrorRecord],
    severity: ErrorSeverity | str | None,
    resolved: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[ErrorRecord]:
    """Error records matching every filter given, oldest first, at most `limit`."""
    sv = optional_enum(ErrorSeverity, severity, "severity")
    out = [
        e
        for e in errors
        if (sv is None or e.severity is sv)
        and (resolved is None or e.resolved == resolved)
        and _in_range(e.timestamp, since, until)
    ]
    out.sort(key=lambda e: (e.timestamp, str(e.id)))
    return page(out, limit, 0)


def filter_metrics(
    metrics: Iterable[PerformanceMetric],
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[PerformanceMetric]:
    """Measurements matching every filter given, oldest first, at most `limit`."""
    out = [
        m
        for m in metrics
        if (name is None or m.name == name) and _in_range(m.timestamp, since, until)
    ]
    out.sort(key=lambda m: (m.timestamp, str(m.id)))
    return page(out, limit, 0)
