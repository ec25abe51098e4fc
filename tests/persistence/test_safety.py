"""Bad input and damaged data: traversal, corrupt files, newer formats, atomic writes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import tempfile
import threading
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import given

from agent_runtime_core.errors import UserError
from agent_runtime_core.persistence import (
    Conversation,
    CorruptStoreError,
    FileConversationStore,
    FileMemoryStore,
    Message,
    PersistenceConfig,
    PersistenceManager,
    Scope,
    SQLiteConversationStore,
    SQLiteMemoryStore,
    StoreVersionError,
    Task,
    check_key,
)
from agent_runtime_core.persistence import _file_base as file_module
from agent_runtime_core.testing.hostile import hostile_keys

TRAVERSAL = ["../x", "../../escape", "/etc/passwd", "a\x00b", "..", "a/../../b", "C:\\x"]


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("backend", ["file", "sqlite"])
async def test_traversal_keys_and_ids_never_leave_the_store(
    backend: str, tmp_path: Path, project_dir: Path, isolated_home: Path
) -> None:
    before = all_files(tmp_path)
    async with PersistenceManager(PersistenceConfig(project_dir=project_dir, backend=backend)) as m:  # type: ignore[arg-type]
        for bad in TRAVERSAL:
            for scope in Scope:
                with pytest.raises(UserError):
                    await m.memory.set(bad, "pwned", scope=scope)
                with pytest.raises(UserError):
                    await m.preferences.set(bad, "pwned", scope=scope)
            with pytest.raises(UserError):
                await m.conversations.get(bad)
            with pytest.raises(UserError):
                await m.conversations.add_message(bad, Message(role="user", content="x"))
            with pytest.raises(UserError):
                await m.tasks.update(bad, name="x")
            with pytest.raises(UserError):
                await m.tasks.delete(bad)
            with pytest.raises(UserError):
                Conversation(id=bad)  # type: ignore[arg-type]
        with pytest.raises(UserError):
            _ = PersistenceManager(
                PersistenceConfig(project_dir=project_dir, session_id="../s")
            ).session_id
        await m.memory.set("fine", 1)
    allowed = (project_dir / ".agent_runtime", isolated_home)
    created = all_files(tmp_path) - before
    assert created, "the valid write should have created a file"
    for path in created:
        assert any(path.is_relative_to(root) for root in allowed), path
    assert not (tmp_path / "escape").exists() and not (project_dir / "x").exists()


async def test_corrupt_conversation_file_is_reported_and_never_overwritten(
    project_dir: Path,
) -> None:
    store = FileConversationStore(project_dir)
    conv = Conversation(title="precious")
    await store.save(conv)
    path = project_dir / ".agent_runtime" / "conversations" / f"{conv.id}.json"
    path.write_bytes(b'{"format": "agent-runtime-core.persistence", "version": 1, "kind": "conv')
    damaged = path.read_bytes()
    with pytest.raises(CorruptStoreError) as info:
        await store.get(conv.id)
    assert str(path) in str(info.value) and "move it aside" in str(info.value)
    assert info.value.path == path
    with pytest.raises(CorruptStoreError):
        await store.save(conv)
    with pytest.raises(CorruptStoreError):
        await store.add_message(conv.id, Message(role="user", content="x"))
    with pytest.raises(CorruptStoreError):
        await store.list_conversations()
    assert path.read_bytes() == damaged
    # Recovery, as the message says: move it aside, and the store works again.
    path.rename(path.with_suffix(".json.corrupt"))
    await store.save(conv)
    assert await store.get(conv.id) == conv


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b'{"format": "other", "version": 1}',
        b"\xff\xfe",
        b'{"format": "agent-runtime-core.persistence", "version": 1, "kind": "memory", "data": [1]}',
    ],
)
async def test_corrupt_memory_file_is_reported_and_never_overwritten(
    project_dir: Path, content: bytes
) -> None:
    store = FileMemoryStore(project_dir)
    await store.set("k", "v")
    path = project_dir / ".agent_runtime" / "memory.json"
    path.write_bytes(content)
    with pytest.raises(CorruptStoreError, match="memory.json"):
        await store.get("k")
    with pytest.raises(CorruptStoreError):
        await store.set("k", "new")
    with pytest.raises(CorruptStoreError):
        await store.delete("k")
    assert path.read_bytes() == content


async def test_record_with_invalid_fields_is_corrupt(project_dir: Path) -> None:
    store = FileConversationStore(project_dir)
    conv = Conversation()
    await store.save(conv)
    path = project_dir / ".agent_runtime" / "conversations" / f"{conv.id}.json"
    envelope = json.loads(path.read_text())
    envelope["data"]["created_at"] = "yesterday"
    path.write_text(json.dumps(envelope))
    with pytest.raises(CorruptStoreError, match="Conversation"):
        await store.get(conv.id)


async def test_corrupt_sqlite_database_is_reported_and_never_overwritten(project_dir: Path) -> None:
    root = project_dir / ".agent_runtime"
    root.mkdir()
    db = root / "persistence.db"
    db.write_bytes(b"this is not a database" * 100)
    damaged = db.read_bytes()
    store = SQLiteConversationStore(project_dir)
    try:
        with pytest.raises(CorruptStoreError) as info:
            await store.save(Conversation())
        assert str(db) in str(info.value)
        with pytest.raises(CorruptStoreError):
            await store.get(uuid4())
    finally:
        await store.close()
    assert db.read_bytes() == damaged


async def test_corrupt_sqlite_row_is_reported(project_dir: Path) -> None:
    store = SQLiteConversationStore(project_dir)
    try:
        conv = Conversation()
        await store.save(conv)
        db = store.db_path(Scope.PROJECT)
        with sqlite3.connect(db) as raw:
            raw.execute("UPDATE conversations SET data = '{broken'")
        raw.close()
        with pytest.raises(CorruptStoreError, match="conversations"):
            await store.get(conv.id)
    finally:
        await store.close()


async def test_newer_file_format_is_refused(project_dir: Path) -> None:
    store = FileMemoryStore(project_dir)
    path = project_dir / ".agent_runtime" / "memory.json"
    path.parent.mkdir(parents=True)
    newer = {
        "format": "agent-runtime-core.persistence",
        "version": 99,
        "kind": "memory",
        "data": {},
    }
    path.write_text(json.dumps(newer))
    with pytest.raises(StoreVersionError, match="upgrade"):
        await store.get("k")
    with pytest.raises(StoreVersionError):
        await store.set("k", 1)
    assert json.loads(path.read_text()) == newer


async def test_newer_sqlite_schema_is_refused(project_dir: Path) -> None:
    db = project_dir / ".agent_runtime" / "persistence.db"
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    store = SQLiteMemoryStore(project_dir)
    try:
        with pytest.raises(StoreVersionError, match="upgrade"):
            await store.set("k", 1)
    finally:
        await store.close()


async def test_files_carry_a_format_version(project_dir: Path) -> None:
    async with PersistenceManager(PersistenceConfig(project_dir=project_dir)) as m:
        await m.memory.set("k", "v")
        task = Task(name="t")
        await m.tasks.save(task)
    for path in (project_dir / ".agent_runtime").rglob("*.json"):
        envelope = json.loads(path.read_text())
        assert envelope["format"] == "agent-runtime-core.persistence"
        assert envelope["version"] == file_module.FORMAT_VERSION
    sqlite_store = SQLiteMemoryStore(project_dir)
    try:
        await sqlite_store.set("k", "v")
    finally:
        await sqlite_store.close()
    raw = sqlite3.connect(sqlite_store.db_path(Scope.PROJECT))
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        raw.close()


async def test_writes_are_atomic_and_private(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileMemoryStore(project_dir)
    await store.set("k", "v1")
    path = project_dir / ".agent_runtime" / "memory.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A write that fails half-way leaves the old file intact and no temp file behind.
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(file_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        await store.set("k", "v2")
    monkeypatch.setattr(file_module.os, "replace", real_replace)
    assert await store.get("k") == "v1"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


async def test_file_io_runs_off_the_event_loop(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = file_module._atomic_write

    def spy(path: Path, payload: bytes) -> None:
        threads.append(threading.get_ident())
        real(path, payload)

    monkeypatch.setattr(file_module, "_atomic_write", spy)
    await FileMemoryStore(project_dir).set("k", "v")
    await FileConversationStore(project_dir).save(Conversation())
    assert threads and threading.get_ident() not in threads


async def test_reads_create_no_files(project_dir: Path, tmp_path: Path) -> None:
    before = all_files(tmp_path)
    for backend in ("file", "sqlite"):
        async with PersistenceManager(
            PersistenceConfig(project_dir=project_dir, backend=backend)
        ) as m:  # type: ignore[arg-type]
            assert await m.memory.get("nothing") is None
            assert await m.preferences.get_all() == {}
            assert await m.conversations.list_conversations() == []
    assert all_files(tmp_path) == before


async def test_global_dir_comes_from_config_then_env(
    tmp_path: Path, project_dir: Path, isolated_home: Path
) -> None:
    explicit = tmp_path / "explicit-global"
    async with PersistenceManager(
        PersistenceConfig(project_dir=project_dir, global_dir=explicit)
    ) as m:
        await m.preferences.set("theme", "dark")
        assert m.dirs.global_dir == explicit
    assert (explicit / "preferences.json").is_file()
    async with PersistenceManager(PersistenceConfig(project_dir=project_dir)) as m:
        assert m.dirs.global_dir == isolated_home
        assert await m.preferences.get("theme") is None


# -- hostile keys and session ids, generated (Hypothesis) -----------------------------------------


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path.resolve().is_relative_to(root.resolve()) for root in roots)


@pytest.mark.parametrize("backend", ["file", "sqlite"])
@given(key=hostile_keys())
def test_any_key_is_stored_and_read_back_or_refused_never_written_outside(backend: str, key: str) -> None:
    """The issue's 414 hand-written cases as a property: a clear `UserError` or a round trip, and
    never a file outside the project and global directories."""

    async def scenario(base: Path) -> None:
        project, home = base / "project", base / "global"
        project.mkdir()
        config = PersistenceConfig(project_dir=project, global_dir=home, backend=backend)  # type: ignore[arg-type]
        async with PersistenceManager(config) as m:
            for scope in Scope:
                try:
                    await m.memory.set(key, {"v": key[:3]}, scope=scope)
                    await m.preferences.set(key, 1, scope=scope)
                except UserError as e:
                    assert str(e).isascii()
                    continue
                assert await m.memory.get(key, scope=scope) == {"v": key[:3]}
                assert await m.preferences.get(key, scope=scope) == 1

    with tempfile.TemporaryDirectory() as name:
        base = Path(name)
        asyncio.run(scenario(base))
        for path in base.rglob("*"):
            if path != base / "project":
                assert _inside(path, (base / "project" / ".agent_runtime", base / "global")), path


@given(session_id=hostile_keys())
def test_any_session_id_is_a_directory_inside_the_project_or_refused(session_id: str) -> None:
    async def scenario(base: Path) -> None:
        project = base / "project"
        project.mkdir()
        try:
            config = PersistenceConfig(project_dir=project, global_dir=base / "global", session_id=session_id)
            manager = PersistenceManager(config)
            _ = manager.session_id
        except UserError as e:
            assert str(e).isascii()
            return
        async with manager as m:
            await m.memory.set("k", "v", scope=Scope.SESSION)  # ENAMETOOLONG before the limit
            assert await m.memory.get("k", scope=Scope.SESSION) == "v"

    with tempfile.TemporaryDirectory() as name:
        base = Path(name)
        asyncio.run(scenario(base))
        for path in base.rglob("*"):
            if path != base / "project":
                assert _inside(path, (base / "project" / ".agent_runtime",)), path


def test_a_lone_surrogate_and_a_long_session_id_are_clear_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="lone surrogate"):
        check_key("a\udc80b")
    with pytest.raises(UserError, match="over the limit of 255"):
        _ = PersistenceManager(PersistenceConfig(project_dir=tmp_path, session_id="s" * 256)).session_id
    assert PersistenceManager(PersistenceConfig(project_dir=tmp_path, session_id="s" * 255)).session_id == "s" * 255
