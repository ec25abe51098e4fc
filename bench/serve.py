"""Benchmark 8: a run's events through the server's SSE to 100 subscribers, against the event bus
alone, in the same run.

Ours: `create_app` served by uvicorn in a process of its own; one run emits N events
(`ctx.emit`, as an agent does) while 100 clients in this process (minimal SSE readers on asyncio
streams, so their own cost weighs little) follow the run's `GET /runs/{id}/events`. Baseline: the same runner, agent and events in a process of the same
shape, followed by 100 subscribers of the event bus itself (`bus.subscribe`, in process: no HTTP,
no SSE). Latency is an event's arrival at a subscriber minus its emit time (`event.timestamp`,
the system clock both processes share), over every (event, subscriber) pair; the server's added
latency is ours minus the baseline. Two loads: flat out (events queue behind each other) and
paced (one event every 50 ms: 2,000 deliveries/s, within what the server sustains). events/s counts deliveries (events x subscribers) per second, from
the first emit to the last arrival.

    python -m bench.serve [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench._harness import Row, Stat, Table, child_env, free_port, kill_pid, ratios, spawn

SUBSCRIBERS = 100
PACE = 0.05
KEY = "bench-serve-key-" + "k" * 20


def _agent() -> Any:
    from agent_runtime_core import AgentRuntime, EventType, RunContext, RunResult

    class Emitter(AgentRuntime):
        key = "emitter"

        async def run(self, ctx: RunContext) -> RunResult:
            await asyncio.sleep(float(ctx.metadata.get("wait", 0)))  # subscribers connect meanwhile
            n, pace = int(ctx.metadata["n"]), float(ctx.metadata.get("pace", 0))
            for i in range(n):
                await ctx.emit(EventType.PROGRESS_UPDATE, {"i": i, "message": "x" * 64})
                if pace:
                    await asyncio.sleep(pace)
                elif i % 50 == 0:
                    await asyncio.sleep(0)  # an agent yields now and then (a model call, a tool)
            return RunResult(final_output={"n": n})

    return Emitter()


def _figures(arrivals: list[list[tuple[int, float, float]]], n: int) -> dict[str, float]:
    """events/s and latency percentiles (µs) from each subscriber's (seq, emitted, arrived)."""
    latencies = sorted((a - e) * 1e6 for sub in arrivals for _, e, a in sub)
    first = min(e for sub in arrivals for _, e, _ in sub)
    last = max(a for sub in arrivals for _, _, a in sub)
    complete = all([s for s, _, _ in sub] == list(range(2, n + 2)) for sub in arrivals)
    return {
        "rate": len(latencies) / (last - first),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "complete": float(complete),
    }


# -- the processes measured -----------------------------------------------------------------------


def _serve(port: int) -> None:
    """The server: uvicorn on 127.0.0.1:port with the emitting agent."""
    import uvicorn

    from agent_runtime_core import AgentRunner, RunnerConfig
    from agent_runtime_core.serve import create_app

    app = create_app(AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=600)), agents=[_agent()], api_keys=[KEY])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")


async def _bus_only(n: int, pace: float) -> dict[str, float]:
    """The baseline: the runner executes the same run; subscribers read the bus directly."""
    from agent_runtime_core import AgentRunner, RunnerConfig

    runner = AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=600))
    arrivals: list[list[tuple[int, float, float]]] = [[] for _ in range(SUBSCRIBERS)]

    async def follow(i: int) -> None:
        async for event in runner.event_bus.subscribe("bus-run"):
            if event.seq >= 2 and not event.is_terminal:
                json.loads(json.dumps(event.to_dict()))  # what reading an event costs a client
                arrivals[i].append((event.seq, event.timestamp, time.time()))

    readers = [asyncio.create_task(follow(i)) for i in range(SUBSCRIBERS)]
    await runner.execute(_agent(), "bus-run", "go", metadata={"n": n, "pace": pace, "wait": 0.2})
    await asyncio.gather(*readers)
    return _figures(arrivals, n)


# -- the client side ------------------------------------------------------------------------------


async def _sse_once(port: int, n: int, pace: float) -> dict[str, float]:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}) as client:
        body = {"agent_key": "emitter", "input": "go", "metadata": {"n": n, "pace": pace, "wait": 1.0}}
        run_id = (await client.post("/runs", json=body)).json()["run_id"]
    arrivals: list[list[tuple[int, float, float]]] = [[] for _ in range(SUBSCRIBERS)]

    async def follow(i: int) -> None:
        # A minimal SSE reader on asyncio streams (HTTP/1.0: the body is the stream, no chunks),
        # so the clients' own parsing (httpx's is pure Python) weighs little against the server's.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /runs/{run_id}/events HTTP/1.0\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        await writer.drain()
        try:
            while line := await reader.readline():
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event["type"] == "progress.update":
                        arrivals[i].append((event["seq"], event["timestamp"], time.time()))
        finally:
            writer.close()

    await asyncio.gather(*(follow(i) for i in range(SUBSCRIBERS)))
    return _figures(arrivals, n)


def _bus_once(n: int, pace: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.serve", "--bus-only", str(n), str(pace)],
                         env=child_env(), capture_output=True, text=True, timeout=600, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    from agent_runtime_core.testing import wait_until_healthy

    n_flat = 60 if quick else 1000
    n_paced = 10 if quick else 60
    table = Table(f"8. Serving: a run's events through SSE to {SUBSCRIBERS} subscribers", repeats=repeats)
    port = free_port()
    server = spawn([sys.executable, "-m", "bench.serve", "--server", str(port)], env=child_env())
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server)
        results: dict[str, dict[str, list[float]]] = {}
        asyncio.run(_sse_once(port, 20, 0))  # warm up
        for _ in range(repeats):
            for load, n, pace in (("flat out", n_flat, 0.0), ("paced", n_paced, PACE)):
                for side, figures in (("sse", asyncio.run(_sse_once(port, n, pace))), ("bus", _bus_once(n, pace))):
                    for name, value in figures.items():
                        results.setdefault(f"{load}/{side}", {}).setdefault(name, []).append(value)
    finally:
        kill_pid(server)
    for load in ("flat out", "paced"):
        sse, bus = results[f"{load}/sse"], results[f"{load}/bus"]
        if min(sse["complete"] + bus["complete"]) < 1:
            raise RuntimeError(f"{load}: a subscriber missed or repeated an event")
        table.add(Row(f"{load}: deliveries/s", Stat(sse["rate"]), "ev/s", Stat(bus["rate"]), ratios(sse["rate"], bus["rate"])))
        for p in ("p50", "p99"):
            table.add(Row(f"{load}: {p} emit->arrival", Stat(sse[p]), "µs", Stat(bus[p]), ratios(sse[p], bus[p])))
            added = [s - b for s, b in zip(sse[p], bus[p], strict=True)]
            table.add(Row(f"{load}: {p} added by the server", Stat(added), "µs"))
    table.notes.append(f"{SUBSCRIBERS} subscribers on one run; flat out: {n_flat} events emitted back to back; paced: "
                       f"{n_paced} events, one every {PACE * 1000:.0f} ms. Ours: uvicorn + create_app in its own process, "
                       "100 SSE readers on asyncio streams in this one (one event loop). Baseline: the same runner and "
                       "agent in a process of its own, its subscribers reading the in-memory bus (and decoding each "
                       "event's JSON, as a client does). Every subscriber got every event once, in order.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bus-only", nargs=2, metavar=("N", "PACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        _serve(args.server)
    elif args.bus_only:
        print(json.dumps(asyncio.run(_bus_only(int(args.bus_only[0]), float(args.bus_only[1])))))
    else:
        for t in run(args.quick):
            t.print()
