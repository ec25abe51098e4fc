"""A tour of agent_runtime_core.persistence, offline, in a temporary directory.

    python examples/persistence_demo.py                 # file backend, temp dir
    python examples/persistence_demo.py --backend sqlite
    python examples/persistence_demo.py --project-dir ./demo-project

GLOBAL data goes to the temp dir too (through AGENT_RUNTIME_GLOBAL_DIR) unless you pass
--project-dir, so the demo never writes to your home directory by default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from agent_runtime_core.persistence import (
    AuditEntry,
    AuditEventType,
    Conversation,
    ConversationMessage,
    Embedding,
    Fact,
    FactType,
    Message,
    PerformanceMetric,
    PersistenceConfig,
    PersistenceManager,
    Scope,
    Task,
    TaskState,
)


async def tour(project_dir: Path, backend: str) -> None:
    config = PersistenceConfig(
        project_dir=project_dir,
        backend=backend,  # type: ignore[arg-type]
        enable_knowledge=True,
        enable_audit=True,
    )
    async with PersistenceManager(config) as manager:
        # Memory: scopes and the lookup order (SESSION -> PROJECT -> GLOBAL).
        await manager.memory.set("user_name", "Alice", scope=Scope.GLOBAL)
        await manager.memory.set("user_name", "Alice (this project)", scope=Scope.PROJECT)
        print("memory user_name:", await manager.memory.get("user_name"))
        print("  in GLOBAL only:", await manager.memory.get("user_name", scope=Scope.GLOBAL))

        # Conversations, with an edited message on a branch.
        question = Message(role="user", content="What is 2 + 2?")
        conv = Conversation(title="Maths", messages=[question])
        await manager.conversations.save(conv)
        await manager.conversations.add_message(conv.id, Message(role="assistant", content="4"))
        branch = uuid4()
        await manager.conversations.add_message(
            conv.id,
            ConversationMessage(
                role="user",
                content="What is 2 + 3?",
                parent_message_id=question.id,
                branch_id=branch,
            ),
        )
        main = await manager.conversations.get_branch_path(conv.id)
        edited = await manager.conversations.get_branch_path(conv.id, branch)
        print("main line:", [m.content for m in main])
        print("edited branch:", [m.content for m in edited])
        print("search 'maths':", [c.title for c in await manager.conversations.search("maths")])

        # Tasks with dependencies and priorities.
        fetch = Task(name="Fetch data", priority=5)
        clean = Task(name="Clean data", dependencies=[fetch.id], priority=9)
        report = Task(name="Write report", priority=1, due_at=datetime.now(UTC) + timedelta(days=1))
        for task in (fetch, clean, report):
            await manager.tasks.save(task)
        print("ready:", [t.name for t in await manager.tasks.get_ready_tasks()])
        await manager.tasks.update(fetch.id, state=TaskState.COMPLETE)
        print("ready after fetch:", [t.name for t in await manager.tasks.get_ready_tasks()])

        # Preferences default to GLOBAL.
        await manager.preferences.set("theme", "dark")
        print("preferences:", await manager.preferences.get_all())

        # Knowledge: facts and similarity search.
        await manager.knowledge.save_fact(
            Fact(key="user.preferred_language", value="Python", fact_type=FactType.PREFERENCE)
        )
        for text, vector in [
            ("cats", [1.0, 0.1, 0.0]),
            ("dogs", [0.9, 0.3, 0.0]),
            ("tax", [0.0, 0.1, 1.0]),
        ]:
            await manager.knowledge.save_embedding(Embedding(vector=vector, content=text))
        hits = await manager.knowledge.search_similar([1.0, 0.0, 0.0], limit=2)
        print("similar to [1, 0, 0]:", [(e.content, round(score, 3)) for e, score in hits])

        # Audit.
        await manager.audit.log_event(
            AuditEntry(event_type=AuditEventType.TOOL_CALL, action="Called search tool")
        )
        await manager.audit.record_metric(
            PerformanceMetric(name="llm_latency", value=1250.5, unit="ms", tags={"model": "gpt-4"})
        )
        calls = await manager.audit.get_events(event_type=AuditEventType.TOOL_CALL)
        print("tool calls logged:", len(calls))


def show_files(project_dir: Path) -> None:
    print(f"\nFiles under {project_dir}:")
    for path in sorted(project_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            print("  ", path.relative_to(project_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["file", "sqlite"], default="file")
    parser.add_argument("--project-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.project_dir is not None:
        asyncio.run(tour(args.project_dir, args.backend))
        show_files(args.project_dir)
        return
    with tempfile.TemporaryDirectory(prefix="persistence-demo-") as tmp:
        os.environ.setdefault("AGENT_RUNTIME_GLOBAL_DIR", str(Path(tmp) / "global"))
        asyncio.run(tour(Path(tmp) / "project", args.backend))
        show_files(Path(tmp) / "project")


if __name__ == "__main__":
    main()
