"""Tracing: `TraceSink`, the hook for custom platforms, and ready-made sinks."""

from __future__ import annotations

from .base import TraceSink
from .sinks import ConsoleTraceSink, JSONLinesTraceSink

__all__ = ["ConsoleTraceSink", "JSONLinesTraceSink", "TraceSink"]
