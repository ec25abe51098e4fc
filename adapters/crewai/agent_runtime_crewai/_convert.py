"""Pure conversions: the run's input to a crew's kickoff inputs, CrewAI's outputs to plain data."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent_runtime_core import RunContext
from agent_runtime_core.integration import message_text, to_jsonable

if TYPE_CHECKING:
    from crewai import Task

__all__ = ["default_inputs", "final_output", "structured", "task_output", "task_record"]


def default_inputs(ctx: RunContext) -> dict[str, Any]:
    """The crew's kickoff inputs when no mapper is given.

    - `input`: the text of the run's last user message ("" when there is none), so a task whose
      description is `"{input}"` gets the user's question;
    - `messages`: the whole conversation as text, one `role: content` line per message;
    - every key of `input_data["inputs"]` when the run was submitted with such a dict, e.g.
      `runner.execute(runtime, input_data={"inputs": {"topic": "AI"}})` (these win).
    """
    messages = ctx.input_messages
    last_user = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    inputs: dict[str, Any] = {
        "input": last_user,
        "messages": "\n".join(f"{m.get('role')}: {message_text(m)}" for m in messages),
    }
    extra = ctx.input_data.get("inputs") if isinstance(ctx.input_data, Mapping) else None
    if isinstance(extra, Mapping):
        inputs.update(extra)
    return inputs


def structured(output: Any) -> dict[str, Any] | None:
    """A task's or crew's structured result as JSON data: its `json_dict`, else its `pydantic`
    model dumped (a task with `output_pydantic`), else None."""
    json_dict = getattr(output, "json_dict", None)
    if isinstance(json_dict, dict):
        return to_jsonable(json_dict)  # type: ignore[no-any-return]
    model = getattr(output, "pydantic", None)
    if model is not None and hasattr(model, "model_dump"):
        with contextlib.suppress(Exception):
            return to_jsonable(model.model_dump(mode="json"))  # type: ignore[no-any-return]
    return None


def task_record(index: int, fingerprint: str | None, name: str, output: Any) -> dict[str, Any]:
    """A completed task's output as stored (plain data)."""
    output_format = getattr(output, "output_format", None)
    return {
        "index": index,
        "fingerprint": fingerprint,
        "step": name,
        "name": getattr(output, "name", None),
        "description": str(getattr(output, "description", "") or ""),
        "expected_output": getattr(output, "expected_output", None),
        "summary": getattr(output, "summary", None),
        "raw": str(getattr(output, "raw", "") or ""),
        "json_dict": structured(output),
        "agent": str(getattr(output, "agent", "") or ""),
        "output_format": getattr(output_format, "value", output_format),
    }


def task_output(record: Mapping[str, Any], task: Task) -> Any:
    """A stored record back as CrewAI's `TaskOutput` (its pydantic model rebuilt when it has one)."""
    from crewai.tasks.output_format import OutputFormat
    from crewai.tasks.task_output import TaskOutput

    json_dict = record.get("json_dict")
    pydantic_obj = None
    model = getattr(task, "output_pydantic", None)
    if model is not None and isinstance(json_dict, dict):
        with contextlib.suppress(Exception):
            pydantic_obj = model.model_validate(json_dict)
    try:
        output_format = OutputFormat(record.get("output_format") or "raw")
    except ValueError:
        output_format = OutputFormat.RAW
    return TaskOutput(
        description=str(record.get("description") or task.description),
        name=record.get("name"),
        expected_output=record.get("expected_output"),
        summary=record.get("summary"),
        raw=str(record.get("raw") or ""),
        pydantic=pydantic_obj,
        json_dict=json_dict if isinstance(json_dict, dict) and pydantic_obj is None else None,
        agent=str(record.get("agent") or ""),
        output_format=output_format,
    )


def accepted_output(task: Task, index: int, answer: str) -> Any:
    """The output of a `human_input` task whose answer the human accepted, as CrewAI would make
    it (its `output_pydantic` / `output_json` parsed from the answer when the task has one)."""
    from crewai.tasks.task_output import TaskOutput

    pydantic_obj, json_dict = None, None
    with contextlib.suppress(Exception):
        pydantic_obj, json_dict = task._export_output(answer)
    agent = getattr(task.agent, "role", "") if task.agent is not None else ""
    return TaskOutput(description=task.description, name=task.name, expected_output=task.expected_output,
                      raw=answer, pydantic=pydantic_obj, json_dict=json_dict, agent=agent,
                      output_format=task._get_output_format())


def final_output(output: Any) -> dict[str, Any]:
    """The run's `final_output` from a `CrewOutput`, less `response`: each task's result and the
    structured result (`json`) of the last task when it has one, and CrewAI's token usage."""
    tasks = []
    for task_output_ in getattr(output, "tasks_output", None) or []:
        entry: dict[str, Any] = {
            "name": getattr(task_output_, "name", None),
            "agent": getattr(task_output_, "agent", None),
            "raw": str(getattr(task_output_, "raw", "") or ""),
        }
        data = structured(task_output_)
        if data is not None:
            entry["json"] = data
        tasks.append(entry)
    final: dict[str, Any] = {"tasks": tasks}
    data = structured(output)
    if data is not None:
        final["json"] = data
    usage = getattr(output, "token_usage", None)
    if usage is not None and hasattr(usage, "model_dump"):
        final["token_usage"] = {k: v for k, v in usage.model_dump().items() if isinstance(v, int)}
    return final
