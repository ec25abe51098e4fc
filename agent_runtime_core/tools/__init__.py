"""Tools an agent lets its model call: `Tool`, the `@tool` decorator and `ToolRegistry`.

A `Tool` pairs a Python callable with the JSON schema a model needs to call it. The schema is built
once, from the function's type hints and docstring, so that what the model is told and what the
function accepts cannot drift apart. `ToolRegistry.execute` runs a model's tool call: it parses and
validates the arguments against that schema first and, instead of raising, returns a `ToolCallError`
whose text tells the model what was wrong, so that one bad call does not crash the run.

Example:
    ```python
    @tool
    def get_weather(location: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"Get the current weather for a location.

        Args:
            location: City name, e.g. "Paris".
        \"\"\"
        return f"Sunny in {location}"

    tools = ToolRegistry([get_weather])
    result = await tools.execute("get_weather", '{"location": "Paris"}')
    ```
"""

from __future__ import annotations

from ..context import RunContext
from ._registry import ToolRegistry
from ._tool import Tool, ToolCallError, tool

__all__ = ["Tool", "ToolCallError", "ToolRegistry", "tool"]

RunContext._tool_registry = ToolRegistry  # what `RunContext.tools` defaults to (see there)
