"""Run every benchmark and print its table: `python -m bench` (what `make bench` runs).

    python -m bench [--quick] [--only NAME ...] [--repeats N]

Each benchmark measures ours and its baseline in this same run, interleaved, and prints the ratio
(median of the repeats, with min-max) and the machine's core count. Run it with an interpreter
that has the frameworks and OpenTelemetry (`.venv-all/bin/python`); benchmark 3 also needs arq
(`.venv-arq`, see docs/performance.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench._harness import install_sigterm_cleanup, machine

BENCHMARKS = [
    ("runner", "bench.runner_overhead"),
    ("events", "bench.events"),
    ("queue", "bench.distributed_queue"),
    ("checkpoints", "bench.checkpoints"),
    ("adapters", "bench.adapters"),
    ("tracing", "bench.tracing"),
    ("scale", "bench.scale"),
    ("server", "bench.model_server"),
]
"""(short name, module); each module has `run(quick, repeats) -> list[Table]`."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the tables, not the speed")
    parser.add_argument("--only", action="append", choices=[name for name, _ in BENCHMARKS],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per figure (default 5)")
    args = parser.parse_args(argv)
    install_sigterm_cleanup()
    print(f"agent-runtime-core benchmarks on {machine()}", flush=True)
    print(flush=True)
    failed = []
    started = time.perf_counter()
    for name, module in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        try:
            tables = importlib.import_module(module).run(quick=args.quick, repeats=args.repeats)
        except Exception:
            traceback.print_exc()
            print(f"!! benchmark {name} failed\n", flush=True)
            failed.append(name)
            continue
        for table in tables:
            table.print()
        print(f"   ({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    print(f"total: {time.perf_counter() - started:.1f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""),
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
