"""Hygiene for tests that drive the frameworks' own HTTP clients.

Some frameworks never close their async OpenAI clients (LangChain's `ChatOpenAI` keeps one per
model). The openai SDK closes such a client from its `__del__`, on whatever loop is running when
it is collected; if that is a later test's loop, closing connections of a loop already closed
fails. Collecting garbage at the end of each async test, on its own loop, closes them where they
belong.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _close_clients_on_their_own_loop() -> AsyncIterator[None]:
    yield
    gc.collect()
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=5)
