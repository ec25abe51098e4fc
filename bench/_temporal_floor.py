"""Temporal's own floor for benchmark 8: a bare workflow running one no-op activity, plain
temporalio (import-light: Temporal's sandbox imports this module again for the workflow)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop(arg: str) -> str:
    return arg


@workflow.defn(name="BenchFloor")
class Floor:
    @workflow.run
    async def run(self, arg: str) -> str:
        result: str = await workflow.execute_activity(noop, arg, start_to_close_timeout=timedelta(seconds=30))
        return result
