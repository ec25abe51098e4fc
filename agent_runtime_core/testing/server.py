"""TRANSITIONAL, to delete: the old path of `OpenAICompatibleServer`.

The server moved to `agent_runtime_core.testing.servers.openai` (issue 14). This module stays only
because `agent_runtime_core/cli.py` still imports it and is being changed on another branch; delete
it once cli.py imports `from .testing import OpenAICompatibleServer`. Do not import it elsewhere.
"""

from __future__ import annotations

from .servers.openai import OpenAICompatibleServer

__all__ = ["OpenAICompatibleServer"]
