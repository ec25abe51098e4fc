"""`ToolRegistry`: the tools an agent offers its model, and how the model's calls are run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import UserError
from ._tool import Tool, ToolCallError, logger

__all__ = ["ToolRegistry"]


class ToolRegistry:
    """The tools available to an agent, by name: what to offer the model and how to run its calls.

    Iterating yields the `Tool`s in registration order; `names` lists their names.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def __repr__(self) -> str:
        return f"<ToolRegistry tools={self.names!r}>"

    def register(self, tool: Tool | Callable[..., Any], *, replace: bool = False) -> Tool:
        """Add a tool (a plain function is wrapped with `Tool.from_function`) and return it.

        Raises:
            UserError: A tool of that name is already registered and `replace` is False.
        """
        if not isinstance(tool, Tool):
            if not callable(tool):
                raise UserError(f"register() needs a Tool or a function; got {tool!r}.")
            tool = Tool.from_function(tool)
        if tool.name in self._tools and not replace:
            raise UserError(
                f"A tool named {tool.name!r} is already registered; pass replace=True to "
                "replace it, or give the new one another name (Tool.from_function(fn, name=...))."
            )
        self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> Tool:
        """Remove the tool called `name` and return it.

        Raises:
            UserError: No tool has that name.
        """
        try:
            return self._tools.pop(name)
        except KeyError:
            raise UserError(
                f"No tool named {name!r} is registered; registered: {self._available()}."
            ) from None

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """The registered tools' names, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Tool):
            return self._tools.get(name.name) is name
        return isinstance(name, str) and name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def to_openai_format(self) -> list[dict[str, Any]]:
        """Every tool as an OpenAI `tools=[...]` entry:
        `{"type": "function", "function": {"name", "description", "parameters"}}`."""
        return [t.to_openai_format() for t in self._tools.values()]

    async def execute(
        self,
        name: str,
        arguments: str | bytes | dict[str, Any] | None = None,
        *,
        ctx: Any = None,
    ) -> Any:
        """Run a model's tool call and return what the tool returned, or a `ToolCallError`.

        The arguments are validated against the tool's schema before the call. An unknown tool,
        arguments that are not a JSON object or do not fit the schema, a tool that raises and a
        tool that exceeds its `timeout` all give a `ToolCallError` (never an exception), whose
        `str()` tells the model how to fix its call. Cancellation still propagates.

        Args:
            name: The tool the model called.
            arguments: Its arguments: the JSON string a model sends, a dict, or None/"" for none.
            ctx: The `RunContext` to pass to a tool that takes one; defaults to the current run's.

        Raises:
            UserError: The tool needs a `RunContext` and none is available (a setup mistake, not
                the model's).
        """
        found = self._tools.get(name) if isinstance(name, str) else None
        if found is None:
            logger.debug("Model called unknown tool %r", name)
            return ToolCallError(
                tool=str(name),
                kind="unknown_tool",
                message=f"there is no tool by that name; available tools: {self._available()}",
            )
        return await found.execute(arguments, ctx=ctx)

    def _available(self) -> str:
        return ", ".join(self._tools) or "none"
