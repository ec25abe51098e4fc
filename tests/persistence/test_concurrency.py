"""Two processes writing the same stores at once lose no update (file and SQLite backends).

Each process appends N messages to one conversation and sets N memory keys (all in one
`memory.json` for the file backend): both are read-modify-writes that must not lose an update."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from agent_runtime_core.persistence import (
    Conversation,
    PersistenceConfig,
    PersistenceManager,
    Scope,
)

N = 40
TIMEOUT = 60.0

CHILD = r"""
import asyncio, os, sys, time
from agent_runtime_core.persistence import Message, PersistenceConfig, PersistenceManager

backend, project, cid, tag, n, go = sys.argv[1:]
n = int(n)

async def main():
    deadline = time.monotonic() + 30
    while not os.path.exists(go):  # start together, to maximise the overlap
        if time.monotonic() > deadline:
            sys.exit("never got the go signal")
        time.sleep(0.002)
    manager = PersistenceManager(PersistenceConfig(project_dir=project, backend=backend))
    try:
        for i in range(n):
            await manager.conversations.add_message(cid, Message(role="user", content=f"{tag}-{i}"))
            await manager.memory.set(f"{tag}-{i}", i)
    finally:
        await manager.close()

asyncio.run(main())
"""


async def _spawn(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )


@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["file", "sqlite"])
async def test_two_processes_appending_lose_no_message(
    backend: str, project_dir: Path, tmp_path: Path
) -> None:
    config = PersistenceConfig(project_dir=project_dir, backend=backend)  # type: ignore[arg-type]
    async with PersistenceManager(config) as manager:
        conv = Conversation(title="shared")
        await manager.conversations.save(conv)

    go = tmp_path / "go"
    procs = [
        await _spawn([backend, str(project_dir), str(conv.id), tag, str(N), str(go)])
        for tag in ("a", "b")
    ]
    try:
        go.touch()
        started = time.monotonic()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in procs)), timeout=TIMEOUT
        )
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()

    async with PersistenceManager(config) as manager:
        got = await manager.conversations.get(conv.id)
        assert got is not None
        contents = [m.content for m in got.messages]
        assert len(contents) == 2 * N, f"lost {2 * N - len(contents)} messages"
        for tag in ("a", "b"):  # each writer's messages are all there, in its order
            assert [c for c in contents if c.startswith(f"{tag}-")] == [
                f"{tag}-{i}" for i in range(N)
            ]
        assert len(await manager.memory.list_keys(Scope.PROJECT)) == 2 * N
    print(f"{backend}: 2 processes x {N} appends+sets+updates in {elapsed:.2f}s")
