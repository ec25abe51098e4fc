"""Benchmark 7: 1,000 concurrent runs in one worker process: completion time, peak memory, and
whether memory stays bounded as runs finish.

A child process (so its memory is its own) serves waves of 1,000 runs from a RedisQueue with
concurrency 1,000, the full Redis stack behind it (event bus, state store). Each run emits an
event, sleeps 0.5 s (a model call), saves a checkpoint and returns, so all 1,000 are in flight at
once. The baseline child runs the same 1,000 sleeps as bare asyncio tasks. After each wave the
child collects garbage and records its RSS and `sys.getallocatedblocks()`; the growth from the
second wave to the last, divided by the runs finished in between, is the memory kept per
finished run (bounded means about zero).

    python -m bench.scale [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
import uuid

from bench._harness import (
    ROOT,
    Row,
    Stat,
    Table,
    child_env,
    flushall,
    kill_pid,
    ratios,
    redis_server,
    rss_bytes,
    spawn,
)

SLEEP = 0.5
BOUNDED_BYTES_PER_RUN = 200.0


async def _child_ours(url: str, runs: int, waves: int) -> list[dict[str, float]]:
    from agent_runtime_core import (
        AgentRunner,
        AgentRuntime,
        EventType,
        RunContext,
        RunnerConfig,
        RunResult,
        register_runtime,
    )
    from agent_runtime_core.distributed import Worker, WorkerConfig
    from agent_runtime_core.events import RedisEventBus
    from agent_runtime_core.queue import QueuedRun, RedisQueue
    from agent_runtime_core.state import RedisStateStore

    class Sleeper(AgentRuntime):
        key = "sleeper"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            await ctx.emit(EventType.PROGRESS_UPDATE, {"percent": 0})
            await asyncio.sleep(SLEEP)
            await ctx.checkpoint({"done": True})
            return RunResult(final_output={"ok": True})

    register_runtime(Sleeper())
    queue = RedisQueue(url, name="scale", prefix="bench")
    runner = AgentRunner(RunnerConfig(max_retries=0), queue=queue,
                         event_bus=RedisEventBus(url, prefix="bench", retention_seconds=60),
                         state_store=RedisStateStore(url, prefix="bench", checkpoint_ttl_seconds=60))
    out = []
    for _ in range(waves):
        tag = uuid.uuid4().hex[:8]
        await asyncio.gather(*(queue.enqueue(QueuedRun(f"{tag}-{i}", "sleeper", {})) for i in range(runs)))
        worker = Worker(runner, queue, WorkerConfig(concurrency=runs, poll_seconds=0.05, result_ttl_seconds=60))
        t0 = time.perf_counter()
        await worker.serve(handle_signals=False, max_runs=runs)
        seconds = time.perf_counter() - t0
        if worker.completed != runs:
            raise RuntimeError(f"{worker.completed} of {runs} runs completed")
        out.append(_sample(seconds))
    return out


async def _child_bare(runs: int, waves: int) -> list[dict[str, float]]:
    async def one() -> None:
        await asyncio.sleep(SLEEP)

    out = []
    for _ in range(waves):
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(runs)))
        out.append(_sample(time.perf_counter() - t0))
    return out


def _sample(seconds: float) -> dict[str, float]:
    gc.collect()
    return {"seconds": seconds, "rss": rss_bytes(), "blocks": sys.getallocatedblocks(),
            "peak": _peak_rss()}


def _peak_rss() -> int:
    """This process's peak RSS (VmHWM), in bytes. Not `ru_maxrss`: that one keeps the high-water
    mark of the parent it was forked from, across exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(mode: str, url: str, runs: int, waves: int) -> None:
    samples = asyncio.run(_child_ours(url, runs, waves) if mode == "ours" else _child_bare(runs, waves))
    print(json.dumps(samples), flush=True)


def _measure(mode: str, url: str, runs: int, waves: int) -> list[dict[str, float]]:
    proc = spawn([sys.executable, "-m", "bench.scale", "--child", mode, url, str(runs), str(waves)],
                 env=child_env(), cwd=ROOT, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        kill_pid(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"scale child ({mode}) failed with exit {proc.returncode}")
    return list(json.loads(out))


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table. Each repeat is one wave of `runs` runs; the first wave of
    each child warms up and is not counted in the times, so the child runs repeats + 1 waves."""
    runs = 50 if quick else 1_000
    waves = repeats + 1
    with redis_server() as url:
        ours = _measure("ours", url, runs, waves)
        flushall(url)
        bare = _measure("bare", url, runs, waves)
    table = Table(f"7. Scale: {runs:,} concurrent runs in one worker process", repeats=repeats)
    o_t = [s["seconds"] for s in ours[1:]]
    b_t = [s["seconds"] for s in bare[1:]]
    table.add(Row(f"completion time of {runs:,} runs", Stat(o_t), "s", Stat(b_t), ratios(o_t, b_t)))
    o_peak, b_peak = ours[-1]["peak"] / 2**20, bare[-1]["peak"] / 2**20
    table.add(Row("peak RSS", Stat([o_peak]), "MiB", Stat([b_peak]), ratios([o_peak], [b_peak])))
    per_run_o = [(s["peak"] - bare[-1]["peak"]) / runs / 1024 for s in ours[-1:]]
    table.add(Row("peak RSS above bare, per run in flight (imports incl.)", Stat(per_run_o), "KiB"))
    finished = runs * (len(ours) - 2)
    rss_growth = (ours[-1]["rss"] - ours[1]["rss"]) / max(finished, 1)
    blocks_growth = (ours[-1]["blocks"] - ours[1]["blocks"]) / max(finished, 1)
    table.add(Row("RSS growth per finished run (waves 2..last)", Stat([rss_growth]), "B",
                  target=f"<= {BOUNDED_BYTES_PER_RUN:.0f} B (bounded)", met=rss_growth <= BOUNDED_BYTES_PER_RUN))
    table.add(Row("Python heap blocks kept per finished run", Stat([blocks_growth]), "blocks",
                  target="about 0", met=blocks_growth <= 1.0))
    waves_rss = ", ".join(f"{s['rss'] / 2**20:.1f}" for s in ours)
    table.notes.append(
        f"each run: one event, a {SLEEP} s sleep, one checkpoint, its result recorded (RedisQueue + RedisEventBus + "
        f"RedisStateStore, worker concurrency {runs:,}); baseline: {runs:,} bare asyncio tasks sleeping {SLEEP} s. "
        f"RSS after each wave (MiB): {waves_rss}.")
    return [table]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
        for t in run(parser.parse_args().quick):
            t.print()
