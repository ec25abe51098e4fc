"""The `agent-runtime` command: `demo` runs the offline demo, `run` runs any agent once, `worker`
serves submitted runs (from our queue or Temporal), `submit` starts one, `events` shows or follows a
run's events, `dead-letters` lists, requeues or deletes the runs workers refused, `serve` serves
runs over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ._redaction import get_logger
from .agent import AgentRuntime, RunResult, RunStatus
from .config import configure, get_config
from .distributed import (
    Worker,
    WorkerConfig,
    dead_letters,
    events,
    requeue_dead_letters,
    result_to_dict,
)
from .distributed.client import DEFAULT_MAX_INPUT_BYTES, dead_letter_queue
from .distributed.worker import _show
from .errors import UserError
from .events.timeline import format_event, format_timeline
from .runner import AgentRunner, RunnerConfig
from .state.base import StateStore

__all__ = ["main"]

logger = get_logger("agent_runtime_core.worker")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-runtime", description="One runtime for every AI agent.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the README's tool-using agent offline and show its events")
    demo.add_argument("--input", default="What's the weather like in Paris?", help="the user's message")
    demo.add_argument("--db", default=".agent-runtime/demo.db", help="SQLite file for the run's state")
    demo.add_argument("--live", action="store_true", help="use the real OpenAI model (needs OPENAI_API_KEY)")
    demo.add_argument("--trace-file", help="also write every event as a JSON line to this file")
    demo.add_argument(
        "--native-only", action="store_true", help="skip the framework adapters (LangGraph, CrewAI, OpenAI Agents, Google ADK)"
    )
    demo.add_argument("--serve", action="store_true", help="serve the run viewer on the demo's agents; prints the URL")
    demo.add_argument("--port", type=int, default=8000, help="with --serve: port on 127.0.0.1 (default 8000)")

    run = sub.add_parser("run", help="run an agent once: agent-runtime run MODULE:ATTR --input TEXT")
    run.add_argument("target", help="MODULE:ATTR naming an AgentRuntime instance, class or factory")
    run.add_argument("--input", required=True, help="the user's message")
    run.add_argument("--run-id", help="run id (re-use one to resume a run from its checkpoint)")
    run.add_argument("--db", help="SQLite file for the run's state (default: in memory)")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds per attempt (default 300)")
    run.add_argument("--max-retries", type=int, default=0, help="retries after a failed attempt (default 0)")
    run.add_argument("--trace-file", help="also write every event as a JSON line to this file")
    run.add_argument("--json", action="store_true", help="print the result as JSON instead of a timeline")

    _add_distributed_commands(sub)

    serve = sub.add_parser(
        "serve",
        help="serve runs over HTTP (run API, SSE, AG-UI, viewer): agent-runtime serve --app MODULE",
        description="Serve the agents the app module registers (docs/serving.md). API keys come from "
        "AGENT_RUNTIME_API_KEYS; an app module may define `runner = AgentRunner(...)`. Needs the "
        "`serve` extra.",
    )
    serve.add_argument("--app", required=True, help="module that registers the agents (imported first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--execution", choices=["auto", "local", "queue"], default="auto",
                       help="run here, or submit to the queue's workers (auto: queue when it is shared)")
    serve.add_argument("--allow-no-auth", action="store_true", help="serve beyond loopback without API keys")
    serve.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
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
    if args.serve:
        return await _demo_serve(args)
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
    from .testing import OpenAICompatibleServer
    from .testing.scripted import ScriptedLLMClient
    from .tracing.sinks import JSONLinesTraceSink

    frameworks, missing = _demo.load_frameworks()
    print("\n" + "=" * 100)
    if not frameworks:
        print("No framework adapter is installed; install them to see the same task in LangGraph, CrewAI, the")
        print("OpenAI Agents SDK, Pydantic AI and Google ADK:")
        print("pip install 'agent-runtime-core[langgraph,crewai,openai-agents,pydantic-ai,google-adk]'")
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


def _add_distributed_commands(sub: Any) -> None:
    """The `worker`, `submit`, `events` and `dead-letters` subcommands."""
    worker = sub.add_parser(
        "worker",
        help="serve submitted runs: agent-runtime worker --app MODULE --concurrency N [--engine temporal]",
        description="Execute runs from the queue (or, with --engine temporal, Temporal's task queue) "
        "until SIGTERM/SIGINT. Backends come from configure() in the app module or from "
        "AGENT_RUNTIME_* / REDIS_URL / TEMPORAL_ADDRESS; an app module may also define "
        "`runner = AgentRunner(...)` to choose them itself.",
    )
    worker.add_argument(
        "--engine", choices=("queue", "temporal"), default=None,
        help="where runs come from (default: AGENT_RUNTIME_ENGINE, else queue)",
    )
    worker.add_argument("--app", required=True, help="module that registers the agents (imported first)")
    worker.add_argument("--concurrency", type=int, default=10, help="runs at once (default 10)")
    worker.add_argument("--max-deliveries", type=int, default=5, help="deliveries before a run is poison (default 5)")
    worker.add_argument("--max-input-bytes", type=int, default=DEFAULT_MAX_INPUT_BYTES, help="largest run input")
    worker.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds runs may finish after SIGTERM")
    worker.add_argument("--log-level", default="INFO", help="logging level (default INFO)")

    submit_ = sub.add_parser("submit", help="queue a run: agent-runtime submit AGENT_KEY --input TEXT")
    submit_.add_argument("agent_key", help="key of the registered agent (on the workers)")
    group = submit_.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", help="the user's message")
    group.add_argument("--json-input", help="the whole input as JSON, e.g. '{\"messages\": [...]}'")
    submit_.add_argument("--run-id", help="run id (submitting an existing one changes nothing)")
    submit_.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    submit_.add_argument("--delay", type=float, default=0.0, help="seconds before the run may start")
    submit_.add_argument("--app", help="module to import first (e.g. one that calls configure())")
    submit_.add_argument("--wait", action="store_true", help="wait for the result and print it as JSON")
    submit_.add_argument("--timeout", type=float, default=None, help="with --wait: seconds to wait")

    events_ = sub.add_parser("events", help="show a run's events: agent-runtime events RUN_ID --follow")
    events_.add_argument("run_id")
    events_.add_argument("--after", type=int, default=0, help="only events with seq > AFTER (to reconnect)")
    events_.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    events_.add_argument("--json", action="store_true", help="one JSON object per line")
    events_.add_argument("--app", help="module to import first (e.g. one that calls configure())")

    dead = sub.add_parser(
        "dead-letters",
        help="runs workers refused: agent-runtime dead-letters list | requeue RUN_ID... | delete RUN_ID...",
        description="Runs a worker refused without executing (a payload it could not read, an unknown "
        "agent, an input over the limit, a poison run) are recorded FAILED and kept in the queue's "
        "dead letters. List them, requeue them (after fixing the cause), or delete them.",
    )
    dead_sub = dead.add_subparsers(dest="action", required=True)
    listing = dead_sub.add_parser("list", help="show dead letters, most recent first")
    listing.add_argument("--limit", type=int, default=100, help="most to show (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for action, verb in (("requeue", "put back in the queue (their FAILED results are forgotten)"), ("delete", "forget")):
        cmd = dead_sub.add_parser(action, help=f"{verb}: RUN_ID... or --all")
        cmd.add_argument("run_ids", nargs="*", metavar="RUN_ID")
        cmd.add_argument("--all", action="store_true", help="every dead letter")
    for cmd in dead_sub.choices.values():
        cmd.add_argument("--app", help="module to import first (e.g. one that calls configure())")


def _import_app(name: str | None) -> Any:
    if not name:
        return None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UserError(f"Cannot import the app module {name!r}: {e}. Run from its folder or set PYTHONPATH.") from None


def _cli_runner(app: Any, *, shared: bool) -> AgentRunner:
    runner = getattr(app, "runner", None)
    if runner is not None:
        if not isinstance(runner, AgentRunner):
            raise UserError(f"`runner` in the app module must be an AgentRunner; got {type(runner).__name__}.")
        return runner
    config = get_config()
    if shared and config.engine == "temporal" and config.event_bus_backend == "memory":
        raise UserError(
            "This command needs an event bus shared with the workers, but it is 'memory'. Set "
            "AGENT_RUNTIME_EVENT_BUS_BACKEND=redis, AGENT_RUNTIME_STATE_STORE_BACKEND=redis and "
            "REDIS_URL, or configure() them in --app."
        )
    if shared and config.engine == "queue" and (config.queue_backend == "memory" or config.event_bus_backend == "memory"):
        raise UserError(
            "This command needs backends shared with the workers, but the queue or event bus is "
            "'memory'. Set AGENT_RUNTIME_QUEUE_BACKEND=redis, AGENT_RUNTIME_EVENT_BUS_BACKEND=redis, "
            "AGENT_RUNTIME_STATE_STORE_BACKEND=redis and REDIS_URL, or configure() them in --app."
        )
    return AgentRunner()


async def _cli_worker(args: Any) -> int:
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        raise UserError(f"--log-level must be DEBUG, INFO, WARNING or ERROR; got {args.log_level!r}.")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.engine is not None:
        configure(engine=args.engine)  # before the app module builds its runner
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=False)
    if args.engine is not None and runner.engine.name != args.engine:
        raise UserError(
            f"--engine {args.engine}, but the app module's runner uses {runner.engine!r}; build it "
            "with AgentRunner() (the engine then follows the settings) or drop --engine."
        )
    if runner.engine.name == "temporal":
        await runner.serve(concurrency=args.concurrency, shutdown_grace_seconds=args.shutdown_grace)
        return 0
    if getattr(runner.queue, "process_local", False):
        logger.warning(
            "The queue is in memory: this worker only sees runs submitted in its own process. "
            "Set AGENT_RUNTIME_QUEUE_BACKEND=redis and REDIS_URL to serve runs from other processes."
        )
    config = WorkerConfig(
        concurrency=args.concurrency,
        max_deliveries=args.max_deliveries,
        max_input_bytes=args.max_input_bytes,
        shutdown_grace_seconds=args.shutdown_grace,
    )
    await Worker(runner, runner.queue, config).serve()
    return 0


async def _cli_submit(args: Any) -> int:
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    if args.json_input is not None:
        try:
            input_data = json.loads(args.json_input)
        except ValueError as e:
            raise UserError(f"--json-input is not valid JSON: {e}") from None
    else:
        input_data = args.input
    options: dict[str, Any] = {"delay_seconds": args.delay}
    if args.priority:
        options["priority"] = args.priority
    run_id = await runner.submit(args.agent_key, input_data, args.run_id, **options)
    if not args.wait:
        print(run_id)
        return 0
    result = await runner.wait(run_id, args.timeout)
    print(json.dumps(result_to_dict(result), default=str))
    return 0 if result.status is RunStatus.SUCCEEDED else 1


async def _cli_events(args: Any) -> int:
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    t0: float | None = None
    async for event in events(runner, args.run_id, args.after, follow=args.follow):
        if args.json:
            print(json.dumps(event.to_dict(), default=str), flush=True)
        else:
            t0 = event.timestamp if t0 is None else t0
            print(format_event(event, t0), flush=True)
    return 0


async def _cli_dead_letters(args: Any) -> int:
    app = _import_app(args.app)
    runner = _cli_runner(app, shared=True)
    try:
        return await _dead_letters_action(runner, args)
    finally:  # the command ends the process's use of the backends: close their connections
        for part in (runner.queue, runner.event_bus, runner.state_store):
            close = getattr(part, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


async def _dead_letters_action(runner: AgentRunner, args: Any) -> int:
    if args.action == "list":
        letters = await dead_letters(runner, args.limit)
        total = await dead_letter_queue(runner).count_dead_letters()
        for d in letters:
            if args.json:
                print(json.dumps(d.to_dict(), ensure_ascii=True), flush=True)
                continue
            when = datetime.datetime.fromtimestamp(d.dead_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            print(f"{_show(d.run_id)}  {when}  deliveries={d.deliveries}  {d.payload_bytes} bytes")
            print(f"    reason:  {ascii(d.reason)[1:-1][:500]}")
            print(f"    payload: {d.payload_preview}")
        if not args.json:
            print(f"{total} dead letter(s)" + (f", {len(letters)} shown" if total > len(letters) else ""))
        return 0
    if bool(args.run_ids) == bool(args.all):
        raise UserError(f"`dead-letters {args.action}` takes RUN_ID... or --all (one of them).")
    ids = None if args.all else list(args.run_ids)
    if args.action == "requeue":
        done = await requeue_dead_letters(runner, ids)
        for run_id in done:  # as given, unless it would not print (not UTF-8, control characters)
            printable = run_id.isprintable() and run_id.encode("utf-8", "replace").decode() == run_id
            print(run_id if printable else _show(run_id))
        print(f"requeued {len(done)} run(s)", file=sys.stderr)
        return 0 if ids is None or len(done) == len(ids) else 1
    count = await dead_letter_queue(runner).delete_dead_letters(ids)
    print(f"deleted {count} dead letter(s)", file=sys.stderr)
    return 0 if ids is None or count == len(ids) else 1


def _serve_module() -> Any:
    try:
        from . import serve
    except ImportError as e:
        raise UserError(str(e)) from None
    return serve


async def _demo_serve(args: argparse.Namespace) -> int:
    serve = _serve_module()
    from .serve._server import serve_forever
    from .serve.demo import demo_agents
    from .state.sqlite import SQLiteStateStore

    config = RunnerConfig(run_timeout_seconds=120, max_retries=1, retry_backoff_seconds=0.2)
    runner = AgentRunner(config, state_store=SQLiteStateStore(args.db))
    app = serve.create_app(runner, agents=demo_agents(), execution="local")

    def announce(url: str) -> None:
        print(f"agent-runtime demo: the run viewer is at {url}", flush=True)
        print("Open it, pick an agent, start a run; the run API and AG-UI are served there too "
              "(docs/serving.md). Ctrl-C stops the server.", flush=True)

    await serve_forever(app, "127.0.0.1", args.port, log_level="warning", announce=announce)
    return 0


async def _cli_serve(args: Any) -> int:
    serve = _serve_module()
    from .serve._server import serve_forever

    runner = _cli_runner(_import_app(args.app), shared=False)
    app = serve.create_app(runner, execution=args.execution)
    await serve_forever(app, args.host, args.port, log_level=args.log_level, allow_no_auth=args.allow_no_auth)
    return 0


_COMMANDS: dict[str, Callable[[Any], Coroutine[Any, Any, int]]] = {
    "demo": _demo,
    "run": _run,
    "worker": _cli_worker,
    "submit": _cli_submit,
    "events": _cli_events,
    "dead-letters": _cli_dead_letters,
    "serve": _cli_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `agent-runtime` console script."""
    args = _build_parser().parse_args(argv)
    handler = _COMMANDS[args.command]
    try:
        return asyncio.run(handler(args))
    except UserError as e:
        print(f"agent-runtime: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
