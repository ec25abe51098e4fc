"""The `agent-runtime` command: `demo` runs the offline demo, `run` runs any agent once, `worker`
serves queued runs, `submit` queues one, `events` shows or follows a run's events."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .agent import AgentRuntime, RunResult, RunStatus
from .errors import UserError
from .events.timeline import format_timeline
from .runner import AgentRunner, RunnerConfig
from .state.base import StateStore

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-runtime", description="One runtime for every AI agent.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the README's tool-using agent offline and show its events")
    demo.add_argument("--input", default="What's the weather like in Paris?", help="the user's message")
    demo.add_argument("--db", default=".agent-runtime/demo.db", help="SQLite file for the run's state")
    demo.add_argument("--live", action="store_true", help="use the real OpenAI model (needs OPENAI_API_KEY)")
    demo.add_argument("--trace-file", help="also write every event as a JSON line to this file")
    demo.add_argument(
        "--native-only", action="store_true", help="skip the framework adapters (LangGraph, CrewAI, OpenAI Agents)"
    )

    run = sub.add_parser("run", help="run an agent once: agent-runtime run MODULE:ATTR --input TEXT")
    run.add_argument("target", help="MODULE:ATTR naming an AgentRuntime instance, class or factory")
    run.add_argument("--input", required=True, help="the user's message")
    run.add_argument("--run-id", help="run id (re-use one to resume a run from its checkpoint)")
    run.add_argument("--db", help="SQLite file for the run's state (default: in memory)")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds per attempt (default 300)")
    run.add_argument("--max-retries", type=int, default=0, help="retries after a failed attempt (default 0)")
    run.add_argument("--trace-file", help="also write every event as a JSON line to this file")
    run.add_argument("--json", action="store_true", help="print the result as JSON instead of a timeline")

    from .worker import add_cli_commands

    add_cli_commands(sub)  # worker, submit, events, dead-letters
    return parser


def load_agent(target: str) -> AgentRuntime:
    """Import `MODULE:ATTR` and return the agent it names (an instance, a class, or a factory)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UserError(f"Expected MODULE:ATTR, e.g. my_agents:agent; got {target!r}.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise UserError(f"Cannot import {module_name!r}: {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{module_name!r} has no attribute {attr!r}.") from None
    if inspect.isclass(obj) or (callable(obj) and not isinstance(obj, AgentRuntime)):
        try:
            obj = obj()
        except TypeError as e:
            raise UserError(f"{target} is not an AgentRuntime, and calling it failed: {e}") from None
    if not isinstance(obj, AgentRuntime):
        raise UserError(f"{target} is a {type(obj).__name__}, not an AgentRuntime.")
    return obj


async def _execute(
    agent: AgentRuntime,
    text: str,
    *,
    state_store: StateStore | None,
    config: RunnerConfig,
    run_id: str | None = None,
    trace_file: str | None = None,
    as_json: bool = False,
) -> RunResult:
    """Run `agent` once on `text`, then print its timeline and answer (or one JSON object)."""
    from .tracing.sinks import JSONLinesTraceSink

    sink = JSONLinesTraceSink(trace_file) if trace_file else None
    runner = AgentRunner(config, state_store=state_store, trace_sink=sink)
    try:
        result = await runner.execute(agent, run_id=run_id, input_data=text)
        if as_json:
            print(json.dumps(_result_dict(result), default=str))
        else:
            print(format_timeline(await runner.event_bus.get_events(result.run_id or "")))
            _print_result(result)
        return result
    finally:
        if sink is not None:
            await sink.close()
        await runner.state_store.close()


def _result_dict(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": str(result.status),
        "final_output": result.final_output,
        "error": result.error.to_dict() if result.error else None,
        "attempts": result.attempts,
    }


def _print_result(result: RunResult) -> None:
    print()
    if result.status is RunStatus.SUCCEEDED:
        response = result.final_output.get("response")
        print(f"Final answer: {response}" if response is not None else f"Final output: {json.dumps(result.final_output, default=str)}")
    else:
        error = result.error
        print(f"Run {result.status}: {error.type + ': ' + error.message if error else ''}")


async def _demo(args: argparse.Namespace) -> int:
    from . import _demo
    from .llm import LLMClient, get_llm_client, use_llm_client
    from .state.sqlite import SQLiteStateStore

    client: LLMClient
    if args.live:
        if not _demo.live_available():
            print("--live needs OPENAI_API_KEY in the environment.", file=sys.stderr)
            return 2
        client = get_llm_client("openai")
        mode = f"live OpenAI model ({getattr(client, 'default_model', '?')})"
    else:
        from .testing.scripted import ScriptedLLMClient

        client = ScriptedLLMClient(_demo.demo_script())
        mode = "scripted model, offline"

    print(f"agent-runtime demo: the README's tool agent through AgentRunner ({mode}).")
    print(f"State: SQLite at {Path(args.db)}\n")
    state_store = SQLiteStateStore(args.db)
    config = RunnerConfig(run_timeout_seconds=120, max_retries=1, retry_backoff_seconds=0.1)
    with use_llm_client(client):
        result = await _execute(
            _demo.DemoToolAgent(), args.input, state_store=state_store, config=config, trace_file=args.trace_file
        )
    ok = result.status is RunStatus.SUCCEEDED
    if not (args.live or args.native_only):
        ok = await _demo_frameworks(args, config) and ok
    return 0 if ok else 1


async def _demo_frameworks(args: argparse.Namespace, config: RunnerConfig) -> bool:
    """The same task through every installed adapter, one runner, timelines side by side."""
    from . import _demo
    from .events.base import Event
    from .llm import use_llm_client
    from .llm.base import LLMClient
    from .state.sqlite import SQLiteStateStore
    from .testing.scripted import ScriptedLLMClient
    from .testing.server import OpenAICompatibleServer
    from .tracing.sinks import JSONLinesTraceSink

    frameworks, missing = _demo.load_frameworks()
    print("\n" + "=" * 100)
    if not frameworks:
        print("No framework adapter is installed; install them to see the same task in LangGraph, CrewAI and")
        print("the OpenAI Agents SDK: pip install 'agent-runtime-core[langgraph,crewai,openai-agents]'")
        return True
    print("The same task, built natively in each framework, through the same AgentRunner. Each framework's")
    print("own OpenAI client talks to one scripted model served on 127.0.0.1 (no network, no API key).\n")
    sink = JSONLinesTraceSink(args.trace_file) if args.trace_file else None
    runner = AgentRunner(config, state_store=SQLiteStateStore(args.db), trace_sink=sink)
    columns: dict[str, list[Event]] = {}
    answers: dict[str, str] = {}
    ok = True
    native: LLMClient = ScriptedLLMClient(_demo.demo_script())
    with use_llm_client(native):
        result = await runner.execute(_demo.DemoToolAgent(), input_data=args.input)
    columns["native"] = await runner.event_bus.get_events(result.run_id or "")
    answers["native"] = str(result.final_output.get("response"))
    with OpenAICompatibleServer(_demo.demo_script()) as server:
        for name, module in frameworks:
            runtime, close = module.build_demo_runtime(server.base_url, [_demo.get_weather, _demo.search_web])
            try:
                result = await runner.execute(runtime, input_data=args.input)
            finally:
                await close()
            columns[name] = await runner.event_bus.get_events(result.run_id or "")
            answers[name] = str(result.final_output.get("response")) if result.succeeded else f"{result.status}: {result.error}"
            ok = ok and result.succeeded
    if sink is not None:
        await sink.close()
    await runner.state_store.close()
    print(_demo.format_side_by_side(columns, width=26))
    print("\nFinal answers:")
    for name, answer in answers.items():
        print(f"  {name:<14} {answer}")
    for name, extra in missing:
        print(f"  {name:<14} (not installed: pip install 'agent-runtime-core[{extra}]')")
    return ok


async def _run(args: argparse.Namespace) -> int:
    from .state.sqlite import SQLiteStateStore

    result = await _execute(
        load_agent(args.target),
        args.input,
        state_store=SQLiteStateStore(args.db) if args.db else None,
        config=RunnerConfig(run_timeout_seconds=args.timeout, max_retries=args.max_retries, retry_backoff_seconds=0.5),
        run_id=args.run_id,
        trace_file=args.trace_file,
        as_json=args.json,
    )
    return 0 if result.status is RunStatus.SUCCEEDED else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `agent-runtime` console script."""
    args = _build_parser().parse_args(argv)
    from .worker import CLI_COMMANDS, run_cli_command

    handler = run_cli_command if args.command in CLI_COMMANDS else _demo if args.command == "demo" else _run
    try:
        return asyncio.run(handler(args))
    except UserError as e:
        print(f"agent-runtime: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
