"""Benchmark 3: no-op runs/s end to end through RedisQueue workers, vs arq on the same redis-server.

For each repeat and each side (ours, arq) and worker count (1, 2): empty Redis, fill the queue
with N no-op runs (jobs), start the worker processes (`python -m bench._queue_worker`), wait
until each has connected, release them all at once, and time until the queue is drained (ours:
every run acked, which happens after its result is recorded; arq: every job id gone from
`arq:queue`, which arq removes when the job finishes). Workers are then stopped by PID.

Both sides run the same concurrency per worker process and the same Python with the same redis-py
(the interpreter of `.venv-arq`, which arq's `redis<6` pin needs; `BENCH_QUEUE_PYTHON` overrides).
Ours does more per run than arq does per job: a lease with a heartbeat, RUN_STARTED and
RUN_SUCCEEDED published to the run's Redis stream, the result recorded before the ack. Both give
at-least-once delivery (arq re-runs a job whose worker died once its in-progress key expires).

Target: ours at least twice arq's figure.

    python -m bench.distributed_queue [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
    spawn,
)

CONCURRENCY = 50
TARGET_RATIO = 2.0


def queue_python() -> str:
    """The interpreter for both sides' worker processes: one that can import arq."""
    explicit = os.environ.get("BENCH_QUEUE_PYTHON")
    if explicit:
        return explicit
    venv = ROOT / ".venv-arq" / "bin" / "python"
    if venv.exists():
        return str(venv)
    try:
        import arq  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "Benchmark 3 needs arq: `make bench` creates .venv-arq (python -m venv .venv-arq && "
            ".venv-arq/bin/pip install -e '.[bench]'), or set BENCH_QUEUE_PYTHON."
        ) from None
    return sys.executable


def _drained(url: str, side: str) -> bool:
    import redis

    client = redis.Redis.from_url(url)
    try:
        if side == "ours":
            pipe = client.pipeline(transaction=False)
            for name in ("ready", "delayed", "leased"):
                pipe.zcard(f"bench:{{q:bench}}:{name}")
            return sum(pipe.execute()) == 0
        return int(client.zcard("arq:queue")) == 0
    finally:
        client.close()


def one(url: str, side: str, workers: int, runs: int, python: str) -> float:
    """Fill, start `workers` processes, release them, time the drain; returns runs/s."""
    flushall(url)
    env = child_env()
    tag = uuid.uuid4().hex[:8]
    subprocess.run([python, "-m", "bench._queue_worker", f"fill-{side}", url, str(runs), tag],
                   check=True, env=env, cwd=ROOT, timeout=120)
    go_key = f"bench-go-{tag}"
    # The workers' logs, shown on failure; closed in `finally`.
    logs = [tempfile.TemporaryFile() for _ in range(workers)]  # noqa: SIM115
    procs = [spawn([python, "-m", "bench._queue_worker", side, url, go_key, str(CONCURRENCY)],
                   env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log) for log in logs]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"{side} worker did not start (exit {proc.poll()})")
        import redis

        client = redis.Redis.from_url(url)
        pipe = client.pipeline(transaction=False)
        for _ in procs:
            pipe.rpush(go_key, "1")
        pipe.execute()
        t0 = time.perf_counter()
        deadline = t0 + 120
        while not _drained(url, side):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{side} with {workers} worker(s) did not drain {runs} runs in 120 s")
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a {side} worker exited early")
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        client.close()
        return runs / elapsed
    except Exception:
        for log in logs:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
        raise
    finally:
        for proc in procs:
            kill_pid(proc, grace=10)
        for log in logs:
            log.close()


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    runs = 300 if quick else 4_000
    python = queue_python()
    table = Table("3. Distributed queue: no-op runs through Redis workers vs arq", repeats=repeats)
    with redis_server() as url:
        results: dict[tuple[str, int], list[float]] = {}
        one(url, "ours", 1, min(runs, 300), python)  # warm up the page cache and Redis
        one(url, "arq", 1, min(runs, 300), python)
        for _ in range(repeats):
            for workers in (1, 2):
                for side in ("ours", "arq"):
                    results.setdefault((side, workers), []).append(one(url, side, workers, runs, python))
    for workers in (1, 2):
        ours, arq = results[("ours", workers)], results[("arq", workers)]
        ratio = ratios(ours, arq)
        table.add(Row(f"{workers} worker process{'es' if workers > 1 else ''}: runs/s", Stat(ours), "runs/s",
                      Stat(arq), ratio, target=f"ratio >= {TARGET_RATIO:.0f}", met=ratio.median >= TARGET_RATIO))
    version = subprocess.run([python, "-c", "import arq, redis; print(arq.VERSION, redis.__version__)"],
                             capture_output=True, text=True, env=child_env(), cwd=ROOT).stdout.split()
    table.notes.append(
        f"{runs:,} runs per repeat, queue filled before the workers start; concurrency {CONCURRENCY} per "
        f"worker process (arq max_jobs={CONCURRENCY}, poll_delay 0.05 s); baseline arq {version[0] if version else '?'}. "
        f"Both sides: {Path(python).parent.parent.name} interpreter, redis-py {version[1] if len(version) > 1 else '?'}, "
        "one redis-server on loopback sharing the cores.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
