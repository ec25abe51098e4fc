"""`StepExecutor`: run named steps in order, checkpoint after each, resume where a run stopped."""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .context import RunContext, _current_step
from .errors import ErrorInfo, RunCancelledError, StepError, UserError
from .events.base import EventType

__all__ = ["Step", "StepExecutor"]

StepFn = Callable[[RunContext, dict[str, Any]], Awaitable[Any] | Any]

_FORMAT_VERSION = 1


@dataclass
class Step:
    """One named unit of work: `fn(ctx, state)` returns the step's result."""

    name: str
    """Unique identifier of the step within a run; results are keyed by it."""
    fn: StepFn
    """`async def fn(ctx, state) -> result` (a plain function runs on a worker thread)."""
    retries: int = 0
    """Retry attempts on failure."""
    retry_delay: float = 1.0
    """Seconds between retries."""
    timeout: float | None = None
    """Time limit of one attempt, in seconds."""
    description: str = ""
    """Human-readable description, carried on STEP_STARTED."""
    checkpoint: bool = True
    """Save a checkpoint after the step, so a resumed run skips it."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UserError(f"Step `name` must be a non-empty string; got {self.name!r}.")
        if not callable(self.fn):
            raise UserError(f"Step {self.name!r}: `fn` must be callable; got {type(self.fn).__name__}.")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise UserError(f"Step {self.name!r}: `retries` must be an integer >= 0; got {self.retries!r}.")
        if self.retry_delay < 0:
            raise UserError(f"Step {self.name!r}: `retry_delay` must be >= 0; got {self.retry_delay}.")
        if self.timeout is not None and not self.timeout > 0:
            raise UserError(f"Step {self.name!r}: `timeout` must be > 0 or None; got {self.timeout}.")


class StepExecutor:
    """Runs steps in order for one run, with retries, timeouts, progress events and checkpoints.

    After each step (with `checkpoint=True`) the executor saves the completed steps, their results
    and the shared state in the run's checkpoint, under `checkpoint_key`. Running the same steps
    again for the same run id (after a crash, a failure, or in another process with a persistent
    state store) skips the completed steps and restores their results and the state.

    Each step's result is also put in the shared state under the step's name, so later steps can
    read `state["fetch"]`. Results and state must be JSON-serializable to be checkpointed.
    """

    def __init__(self, ctx: RunContext, *, checkpoint_key: str = "step_executor") -> None:
        self.ctx = ctx
        self.checkpoint_key = checkpoint_key

    async def run(self, steps: Sequence[Step], initial_state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run `steps` and return their results keyed by step name.

        Raises `StepError` when a step fails after its retries, and `RunCancelledError` when the
        run is cancelled between steps.
        """
        names = [s.name for s in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UserError(f"Step names must be unique; repeated: {', '.join(duplicates)}.")

        saved = await self._load()
        if saved is not None:
            state: dict[str, Any] = saved["state"]
            results: dict[str, Any] = saved["results"]
            completed: list[str] = saved["completed"]
        else:
            state, results, completed = dict(initial_state or {}), {}, []

        total = len(steps)
        for index, step in enumerate(steps):
            if step.name in completed:
                await self.ctx.emit(EventType.STEP_SKIPPED, {"name": step.name, "kind": "step"}, step=step.name)
                await self._progress(index, total, step.name)
                continue
            if self.ctx.is_cancelled():
                raise RunCancelledError(f"Cancelled before step {step.name!r}.", run_id=self.ctx.run_id)
            token = _current_step.set(step.name)  # tags every event of the step, the checkpoint too
            try:
                result = await self._run_step(step, state, index, total)
                results[step.name] = result
                state[step.name] = result
                completed.append(step.name)
                if step.checkpoint:
                    await self._save(step.name, state, results, completed)
                await self.ctx.emit(EventType.STEP_COMPLETED, {"name": step.name, "kind": "step"})
            finally:
                _current_step.reset(token)
            await self._progress(index, total, step.name)
        return {name: results[name] for name in names if name in results}

    async def _run_step(self, step: Step, state: dict[str, Any], index: int, total: int) -> Any:
        ctx = self.ctx
        await ctx.emit(
            EventType.STEP_STARTED,
            {"name": step.name, "kind": "step", "description": step.description, "index": index, "total": total},
            step=step.name,
        )
        for attempt in range(1, step.retries + 2):
            snapshot = copy.deepcopy(state)  # a failed attempt must not leave half-made changes
            started = time.perf_counter()
            try:
                async with asyncio.timeout(step.timeout):
                    return await _call(step.fn, ctx, state)
            except Exception as e:
                if isinstance(e, TimeoutError):
                    e = TimeoutError(f"Step {step.name!r} exceeded its {step.timeout}s timeout.")
                error = ErrorInfo.from_exception(e)
                error.details.update(attempt=attempt, duration_ms=round((time.perf_counter() - started) * 1000, 3))
                state.clear()
                state.update(snapshot)
                if attempt > step.retries or isinstance(e, RunCancelledError) or ctx.is_cancelled():
                    await ctx.emit(EventType.STEP_FAILED, {"name": step.name, "kind": "step", "error": error.to_dict()})
                    if isinstance(e, RunCancelledError):
                        raise
                    raise StepError(
                        f"Step {step.name!r} failed after {attempt} attempt(s): {error.message}",
                        step=step.name,
                        run_id=ctx.run_id,
                    ) from e
                await ctx.emit(
                    EventType.STEP_RETRYING,
                    {"name": step.name, "attempt": attempt, "error": error.to_dict(), "delay_seconds": step.retry_delay},
                )
                await asyncio.sleep(step.retry_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _progress(self, index: int, total: int, name: str) -> None:
        await self.ctx.emit(
            EventType.PROGRESS_UPDATE,
            {"percent": round(100.0 * (index + 1) / total, 2), "completed": index + 1, "total": total, "step": name},
        )

    async def _load(self) -> dict[str, Any] | None:
        checkpoint = await self.ctx.get_checkpoint()
        saved = (checkpoint or {}).get(self.checkpoint_key)
        if saved is None:
            return None
        if (
            not isinstance(saved, dict)
            or saved.get("version") != _FORMAT_VERSION
            or not isinstance(saved.get("completed"), list)
            or not isinstance(saved.get("results"), dict)
            or not isinstance(saved.get("state"), dict)
        ):
            raise UserError(
                f"The checkpoint of run {self.ctx.run_id!r} has an unreadable {self.checkpoint_key!r} "
                "entry; delete the checkpoint to start the steps over."
            )
        return saved

    async def _save(self, name: str, state: dict[str, Any], results: dict[str, Any], completed: list[str]) -> None:
        if self.ctx.state_store is None:
            return  # nothing to persist to: the run cannot resume, but it still runs
        checkpoint = dict(await self.ctx.get_checkpoint() or {})
        checkpoint[self.checkpoint_key] = {
            "version": _FORMAT_VERSION,
            "completed": list(completed),
            "results": results,
            "state": state,
        }
        try:
            await self.ctx.checkpoint(checkpoint)
        except UserError as e:
            raise UserError(f"After step {name!r}: {e}") from None


async def _call(fn: StepFn, ctx: RunContext, state: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(ctx, state)
    # A thread cannot be stopped: a sync step that times out may go on running, so it works on a
    # copy of the state, merged back only if the attempt succeeds.
    work = copy.deepcopy(state)
    result = await asyncio.to_thread(fn, ctx, work)
    if inspect.isawaitable(result):
        result = await result
    state.clear()
    state.update(work)
    return result
