"""TRANSITIONAL, to delete: the old path of `RedisServer`.

The helper moved to `agent_runtime_core.testing.servers.redis` (issue 14; the command is now
`python -m agent_runtime_core.testing.servers.redis`). This module stays only because
`tests/redis/conftest.py` still imports it and is being changed on another branch; delete it once
that file imports `from agent_runtime_core.testing import RedisServer, RedisServerNotFoundError`.
Do not import it elsewhere.
"""

from __future__ import annotations

from .servers.redis import RedisServer, RedisServerNotFoundError

__all__ = ["RedisServer", "RedisServerNotFoundError"]
