"""Tests for `agent_runtime_core.tools`: schemas from type hints, validation, execution."""

import asyncio
import contextvars
import enum
import json
import logging
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime_core import context as runtime_module
from agent_runtime_core.context import RunContext
from agent_runtime_core.errors import UserError
from agent_runtime_core.testing.hostile import hostile_bytes, hostile_json_text
from agent_runtime_core.tools import Tool, ToolCallError, ToolRegistry, tool


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def props(fn: Any) -> dict[str, Any]:
    return Tool.from_function(fn).parameters["properties"]  # type: ignore[no-any-return]


@pytest.fixture
def run_context() -> Iterator[RunContext]:
    """A RunContext installed as the current run's, as the runner does."""
    ctx = RunContext(run_id="run-1", agent_key="agent")
    token = runtime_module._current_context.set(ctx)
    try:
        yield ctx
    finally:
        runtime_module._current_context.reset(token)


# -- schema generation ---------------------------------------------------------------------------


def test_scalar_types_and_required() -> None:
    def f(s: str, i: int, n: float, b: bool) -> None:
        pass

    assert Tool.from_function(f).parameters == {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
        },
        "required": ["s", "i", "n", "b"],
        "additionalProperties": False,
    }


def test_no_parameters_schema() -> None:
    def ping() -> str:
        return "pong"

    assert Tool.from_function(ping).parameters == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_collection_types() -> None:
    def f(
        a: list[str],
        b: tuple[int, ...],
        c: set[float],
        d: dict[str, int],
        e: dict,  # type: ignore[type-arg]
        g: list,  # type: ignore[type-arg]
        h: tuple[int, str],
        i: list[dict[str, list[int]]],
        j: frozenset[str],
    ) -> None:
        pass

    assert props(f) == {
        "a": {"type": "array", "items": {"type": "string"}},
        "b": {"type": "array", "items": {"type": "integer"}},
        "c": {"type": "array", "items": {"type": "number"}},
        "d": {"type": "object", "additionalProperties": {"type": "integer"}},
        "e": {"type": "object"},
        "g": {"type": "array"},
        "h": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "minItems": 2,
            "maxItems": 2,
        },
        "i": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "j": {"type": "array", "items": {"type": "string"}},
    }


def test_dict_with_any_values_has_no_value_constraint() -> None:
    def f(d: dict[str, Any]) -> None:
        pass

    assert props(f) == {"d": {"type": "object"}}


def test_optional_with_default_none_is_not_required_and_not_nullable() -> None:
    def f(a: Optional[int] = None, b: str | None = None, c: list[str] | None = None) -> None:  # noqa: UP045
        pass

    t = Tool.from_function(f)
    assert t.parameters["properties"] == {
        "a": {"type": "integer", "default": None},
        "b": {"type": "string", "default": None},
        "c": {"type": "array", "items": {"type": "string"}, "default": None},
    }
    assert "required" not in t.parameters


def test_optional_without_default_is_required_and_nullable() -> None:
    def f(a: int | None, b: Optional[str]) -> None:  # noqa: UP045
        pass

    t = Tool.from_function(f)
    assert t.parameters["properties"] == {
        "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }
    assert t.parameters["required"] == ["a", "b"]


def test_optional_with_non_none_default_stays_nullable() -> None:
    def f(a: int | None = 3) -> None:
        pass

    assert props(f) == {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3}}


def test_union_becomes_any_of() -> None:
    def f(a: Union[int, str], b: int | str | None) -> None:  # noqa: UP007
        pass

    assert props(f) == {
        "a": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "b": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
    }


def test_defaults_are_in_schema_and_not_required() -> None:
    def f(
        q: str,
        limit: int = 10,
        ratio: float = 0.5,
        exact: bool = False,
        tags: tuple[str, ...] = ("a", "b"),
        color: Color = Color.GREEN,
    ) -> None:
        pass

    t = Tool.from_function(f)
    assert t.parameters["properties"] == {
        "q": {"type": "string"},
        "limit": {"type": "integer", "default": 10},
        "ratio": {"type": "number", "default": 0.5},
        "exact": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
        "color": {"type": "string", "enum": ["red", "green"], "default": "green"},
    }
    assert t.parameters["required"] == ["q"]


def test_default_without_json_form_is_left_out_but_still_optional() -> None:
    sentinel = object()

    def f(a: Any = sentinel) -> None:
        pass

    t = Tool.from_function(f)
    assert t.parameters["properties"] == {"a": {}}
    assert "required" not in t.parameters


def test_literal_becomes_enum_with_type() -> None:
    def f(
        unit: Literal["celsius", "fahrenheit"],
        n: Literal[1, 2, 3],
        mixed: Literal["a", 1],
        flag: Literal[True],
    ) -> None:
        pass

    assert props(f) == {
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "n": {"type": "integer", "enum": [1, 2, 3]},
        "mixed": {"type": ["string", "integer"], "enum": ["a", 1]},
        "flag": {"type": "boolean", "enum": [True]},
    }


def test_enum_subclasses_become_enum_of_values() -> None:
    def f(color: Color, level: Level) -> None:
        pass

    assert props(f) == {
        "color": {"type": "string", "enum": ["red", "green"]},
        "level": {"type": "integer", "enum": [1, 2]},
    }


def test_annotated_description() -> None:
    def f(
        city: Annotated[str, "The city, e.g. Paris"], days: Annotated[int, 1, "How many"] = 1
    ) -> None:
        pass

    assert props(f) == {
        "city": {"type": "string", "description": "The city, e.g. Paris"},
        "days": {"type": "integer", "description": "How many", "default": 1},
    }


def test_any_and_unannotated_have_no_type_constraint() -> None:
    def f(a: Any, b, c=2) -> None:  # type: ignore[no-untyped-def]
        pass

    t = Tool.from_function(f)
    assert t.parameters["properties"] == {"a": {}, "b": {}, "c": {"default": 2}}
    assert t.parameters["required"] == ["a", "b"]


def test_string_annotations_are_resolved() -> None:
    def f(color: "Color", n: "list[int]") -> None:
        pass

    assert props(f) == {
        "color": {"type": "string", "enum": ["red", "green"]},
        "n": {"type": "array", "items": {"type": "integer"}},
    }


@pytest.mark.parametrize("star", ["args", "kwargs"])
def test_var_args_are_rejected(star: str) -> None:
    def with_args(a: int, *args: int) -> None:
        pass

    def with_kwargs(a: int, **kwargs: int) -> None:
        pass

    fn = with_args if star == "args" else with_kwargs
    prefix = "*" if star == "args" else "**"
    with pytest.raises(UserError, match=rf"`\{prefix}{star}` is not supported"):
        Tool.from_function(fn)


def test_unsupported_types_are_rejected_clearly() -> None:
    def f(data: bytes) -> None:
        pass

    def g(d: dict[int, str]) -> None:
        pass

    with pytest.raises(UserError, match=r"parameter 'data'.*not supported"):
        Tool.from_function(f)
    with pytest.raises(UserError, match="dict keys must be str"):
        Tool.from_function(g)


def test_schema_is_valid_json() -> None:
    def f(a: Color = Color.RED, b: tuple[int, int] = (1, 2)) -> None:
        pass

    json.dumps(Tool.from_function(f).parameters, allow_nan=False)


# -- docstrings ----------------------------------------------------------------------------------


def test_google_docstring() -> None:
    def search(query: str, limit: int = 5) -> list[str]:
        """Search the web
        for information.

        Uses the default engine.

        Args:
            query (str): What to look for,
                in plain words.
            limit: How many results.

        Returns:
            The results.
        """
        return []

    t = Tool.from_function(search)
    assert t.description == "Search the web for information."
    assert t.parameters["properties"] == {
        "query": {"type": "string", "description": "What to look for, in plain words."},
        "limit": {"type": "integer", "description": "How many results.", "default": 5},
    }


def test_rest_docstring() -> None:
    def search(query: str, limit: int = 5) -> list[str]:
        """Search the web.

        :param query: What to look for,
            in plain words.
        :param int limit: How many results.
        :returns: The results.
        """
        return []

    t = Tool.from_function(search)
    assert t.description == "Search the web."
    assert t.parameters["properties"]["query"]["description"] == "What to look for, in plain words."
    assert t.parameters["properties"]["limit"]["description"] == "How many results."


def test_annotated_wins_over_docstring_and_overrides_apply() -> None:
    def f(a: Annotated[str, "from Annotated"]) -> None:
        """Summary.

        Args:
            a: from the docstring
        """

    t = Tool.from_function(f, name="renamed", description="Custom.", timeout=2)
    assert t.parameters["properties"]["a"]["description"] == "from Annotated"
    assert (t.name, t.description, t.timeout) == ("renamed", "Custom.", 2)


def test_no_docstring_gives_empty_description() -> None:
    def f(a: int) -> None:
        pass

    assert Tool.from_function(f).description == ""


# -- the spec's example --------------------------------------------------------------------------


def get_weather(location: str) -> str:
    """Get the current weather for a location."""
    return f"The weather in {location} is sunny, 72°F"


def search_web(query: str) -> str:
    """Search the web for information."""
    return f"Search results for: {query}"


async def test_spec_example() -> None:
    tools = ToolRegistry()
    tools.register(Tool.from_function(get_weather))
    tools.register(Tool.from_function(search_web))

    assert tools.to_openai_format() == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a location.",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}},
                    "required": ["location"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "search_web",
                "description": "Search the web for information.",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}},
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        },
    ]
    result = await tools.execute("get_weather", '{"location": "Paris"}')
    assert result == "The weather in Paris is sunny, 72°F"
    assert await tools.execute("search_web", {"query": "python"}) == "Search results for: python"


def test_to_openai_format_returns_copies() -> None:
    tools = ToolRegistry([get_weather])
    tools.to_openai_format()[0]["function"]["parameters"]["properties"].clear()
    assert tools.to_openai_format()[0]["function"]["parameters"]["properties"] == {
        "location": {"type": "string"}
    }


# -- execution -----------------------------------------------------------------------------------


async def test_sync_function_runs_off_the_event_loop() -> None:
    def where() -> int:
        return threading.get_ident()

    tools = ToolRegistry([where])
    assert await tools.execute("where", "{}") != threading.get_ident()


async def test_sync_function_sees_contextvars() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("set in the caller")

    def read() -> str:
        return var.get()

    assert await ToolRegistry([read]).execute("read") == "set in the caller"


async def test_async_function_is_awaited_on_the_loop() -> None:
    async def where(delay: float) -> int:
        await asyncio.sleep(delay)
        return threading.get_ident()

    assert await ToolRegistry([where]).execute("where", '{"delay": 0}') == threading.get_ident()


async def test_async_callable_object_is_awaited() -> None:
    class Fetcher:
        async def __call__(self, url: str) -> str:
            await asyncio.sleep(0)
            return f"fetched {url}"

    t = Tool.from_function(Fetcher(), name="fetch")
    assert t.parameters["required"] == ["url"]
    assert await ToolRegistry([t]).execute("fetch", '{"url": "x"}') == "fetched x"


async def test_result_is_returned_unchanged() -> None:
    payload = {"rows": [1, 2]}

    def rows() -> dict[str, list[int]]:
        return payload

    assert await ToolRegistry([rows]).execute("rows") is payload


@pytest.mark.parametrize("arguments", [None, "", "  ", "{}", "null", {}, b"{}"])
async def test_no_arguments_forms(arguments: Any) -> None:
    def ping() -> str:
        return "pong"

    assert await ToolRegistry([ping]).execute("ping", arguments) == "pong"


async def test_positional_only_parameters() -> None:
    def add(a: int, b: int, /, c: int = 0) -> int:
        return a + b + c

    assert await ToolRegistry([add]).execute("add", '{"a": 1, "b": 2, "c": 3}') == 6


async def test_accepted_values_are_converted() -> None:
    calls: list[dict[str, Any]] = []

    def f(
        n: int,
        x: float,
        maybe: int | None,
        opt: str | None = None,
        tags: tuple[str, ...] = (),
        pair: tuple[int, str] | None = None,
    ) -> None:
        calls.append(dict(n=n, x=x, maybe=maybe, opt=opt, tags=tags, pair=pair))

    tools = ToolRegistry([f])
    args = '{"n": 3.0, "x": 2, "maybe": null, "opt": null, "tags": ["a"], "pair": [1, "b"]}'
    assert not isinstance(await tools.execute("f", args), ToolCallError)
    assert calls == [dict(n=3, x=2, maybe=None, opt=None, tags=("a",), pair=(1, "b"))]
    assert type(calls[0]["n"]) is int


async def test_enum_arguments_are_converted_to_members() -> None:
    seen: list[Any] = []

    def paint(color: Color, levels: list[Level], maybe: Color | None = None) -> str:
        seen.extend([color, levels, maybe])
        return color.name

    tools = ToolRegistry([paint])
    result = await tools.execute("paint", '{"color": "red", "levels": [2, 1], "maybe": "green"}')
    assert result == "RED"
    assert seen == [Color.RED, [Level.HIGH, Level.LOW], Color.GREEN]
    assert type(seen[0]) is Color and all(type(v) is Level for v in seen[1])


# -- bad input never raises ----------------------------------------------------------------------


def _make_strict_tools() -> tuple[ToolRegistry, list[Any]]:
    called: list[Any] = []

    def get_forecast(
        location: str,
        days: int,
        unit: Literal["C", "F"] = "C",
        ratio: float = 1.0,
        tags: list[int] | None = None,
        color: Color = Color.RED,
        note: str | None = None,
        nullable: int | None = 0,
    ) -> str:
        called.append(location)
        return "ok"

    return ToolRegistry([get_forecast]), called


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ('{"location": "Paris", "days": ', "arguments text is not valid JSON"),
        # Over a limit: the model is told which one, the run goes on (never an exception).
        ('{"location": "P", "days": ' + "9" * 4301 + "}", "integer of more than 4300 digits (the limit)"),
        ('{"location": "P", "days": ' + "[" * 50_000 + "]" * 50_000 + "}", "deeper than 128 levels (the limit)"),
        ('{"location": "P", "days": 1e999}', "too large for a float"),
        ('{"location": "P", "days": NaN}', "NaN, which is not JSON"),
        ('{"location": "\\udc80", "days": 2}', "lone surrogate"),
        ('{"location": "' + "x" * 1_000_001 + '", "days": 2}', "over the limit of 1000000 bytes"),
        ("[1, 2]", "arguments must be a JSON object, got array"),
        ('"Paris"', "arguments must be a JSON object, got string"),
        (42, "arguments must be a JSON object, got integer"),
        ('{"days": 2}', "missing required argument 'location'"),
        ('{"location": "Paris", "days": 2, "verbose": true}', "unexpected argument 'verbose'"),
        ('{"location": 7, "days": 2}', "argument 'location' must be a string, got integer 7"),
        ('{"location": "P", "days": true}', "argument 'days' must be an integer, got boolean true"),
        ('{"location": "P", "days": 2.5}', "argument 'days' must be an integer, got number 2.5"),
        ('{"location": "P", "days": "2"}', "argument 'days' must be an integer, got string"),
        ('{"location": "P", "days": 2, "ratio": false}', "argument 'ratio' must be a number"),
        (
            '{"location": "P", "days": 2, "unit": "K"}',
            'argument \'unit\' must be one of ["C", "F"]',
        ),
        ('{"location": "P", "days": 2, "color": "blue"}', "argument 'color' must be one of"),
        ('{"location": "P", "days": 2, "tags": [1, "x"]}', "argument 'tags[1]' must be an integer"),
        ('{"location": "P", "days": 2, "tags": 1}', "argument 'tags' must be an array"),
        ('{"location": null, "days": 2}', "argument 'location' must be a string, got null"),
        (
            '{"location": "P", "days": 2, "nullable": "x"}',
            "argument 'nullable' must be an integer or null",
        ),
    ],
)
async def test_bad_arguments_return_a_helpful_error(arguments: Any, fragment: str) -> None:
    tools, called = _make_strict_tools()
    result = await tools.execute("get_forecast", arguments)
    assert isinstance(result, ToolCallError)
    assert result.kind == "invalid_arguments"
    assert result.tool == "get_forecast"
    text = str(result)
    assert text.startswith("Error: tool 'get_forecast' got invalid arguments: ")
    assert fragment in text
    assert '"location": {"type": "string"}' in text  # the expected schema
    assert called == []


async def test_every_problem_is_reported_at_once() -> None:
    tools, _ = _make_strict_tools()
    result = await tools.execute("get_forecast", '{"days": "x", "extra": 1, "more": 2}')
    assert isinstance(result, ToolCallError)
    assert "missing required argument 'location'" in result.message
    assert "argument 'days' must be an integer" in result.message
    assert "unexpected arguments 'extra', 'more'" in result.message


def test_error_text_matches_the_documented_shape() -> None:
    tools = ToolRegistry([get_weather])
    result = asyncio.run(tools.execute("get_weather", "{}"))
    assert str(result) == (
        "Error: tool 'get_weather' got invalid arguments: missing required argument "
        "'location'. Expected: " + json.dumps(tools.get("get_weather").parameters)  # type: ignore[union-attr]
    )


async def test_unknown_tool_names_the_available_ones() -> None:
    tools = ToolRegistry([get_weather, search_web])
    result = await tools.execute("get_wether", '{"location": "Paris"}')
    assert isinstance(result, ToolCallError)
    assert result.kind == "unknown_tool"
    assert result.tool == "get_wether"
    assert "get_weather, search_web" in str(result)
    assert str(result).startswith("Error: unknown tool 'get_wether'")


async def test_run_does_not_crash_on_bad_calls() -> None:
    """An agent loop feeding every result back as a tool message survives bad calls."""
    tools = ToolRegistry([get_weather])
    calls = [("nope", "{}"), ("get_weather", "{"), ("get_weather", '{"location": "Rome"}')]
    messages = [
        {"role": "tool", "content": str(await tools.execute(name, args))} for name, args in calls
    ]
    assert [m["content"].startswith("Error:") for m in messages] == [True, True, False]


async def test_hand_built_tool_is_validated_from_its_schema() -> None:
    received: list[dict[str, Any]] = []

    def handler(**kwargs: Any) -> str:
        received.append(kwargs)
        return "done"

    t = Tool(
        name="lookup",
        description="Look something up.",
        parameters={
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "n": {"type": "integer"},
                "mode": {"enum": ["fast", "slow"]},
                "opts": {
                    "type": "object",
                    "properties": {"depth": {"type": "integer"}},
                    "required": ["depth"],
                },
            },
            "required": ["key"],
        },
        fn=handler,
    )
    tools = ToolRegistry([t])
    assert await tools.execute("lookup", '{"key": "a", "n": 2.0, "opts": {"depth": 1}}') == "done"
    assert received == [{"key": "a", "n": 2, "opts": {"depth": 1}}]
    for bad, fragment in [
        ('{"n": 1}', "missing required argument 'key'"),
        ('{"key": 1}', "argument 'key' must be a string"),
        ('{"key": "a", "n": false}', "argument 'n' must be an integer"),
        ('{"key": "a", "mode": "medium"}', "argument 'mode' must be one of"),
        ('{"key": "a", "opts": {}}', "missing required argument 'opts.depth'"),
        ('{"key": "a", "opts": {"depth": "deep"}}', "argument 'opts.depth' must be an integer"),
        ('{"key": "a", "other": 1}', "unexpected argument 'other'"),
    ]:
        result = await tools.execute("lookup", bad)
        assert isinstance(result, ToolCallError), bad
        assert fragment in str(result), (bad, str(result))
    assert len(received) == 1


async def test_hand_built_tool_with_open_schema_accepts_any_fields() -> None:
    t = Tool("echo", "Echo.", {"type": "object"}, lambda **kw: kw)
    assert await t.execute('{"a": 1, "b": [2]}') == {"a": 1, "b": [2]}


# -- tool failures -------------------------------------------------------------------------------


async def test_raising_tool_returns_redacted_error_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def leaky(x: int) -> None:
        raise RuntimeError("auth failed for key sk-abcdefghijklmnop")

    with caplog.at_level(logging.WARNING, logger="agent_runtime_core.tools"):
        result = await ToolRegistry([leaky]).execute("leaky", '{"x": 1}')
    assert isinstance(result, ToolCallError)
    assert result.kind == "tool_error"
    assert result.message == "RuntimeError: auth failed for key ***"
    assert str(result) == "Error: tool 'leaky' failed: RuntimeError: auth failed for key ***."
    assert "sk-abcdefghijklmnop" not in str(result)
    records = [r for r in caplog.records if r.name == "agent_runtime_core.tools"]
    assert records and all("sk-abcdefghijklmnop" not in r.getMessage() for r in records)
    assert "auth failed for key ***" in records[0].getMessage()
    assert records[0].exc_info is None  # the raw traceback (with the secret) is not attached


async def test_async_tool_error_is_returned() -> None:
    async def broken() -> None:
        raise ValueError("city not found")

    result = await ToolRegistry([broken]).execute("broken")
    assert isinstance(result, ToolCallError)
    assert (result.kind, result.message) == ("tool_error", "ValueError: city not found")


async def test_async_tool_timeout() -> None:
    @tool(timeout=0.05)
    async def slow() -> str:
        await asyncio.sleep(10)
        return "late"

    # Without the tool's timeout the call would sleep 10 s: the deadline would fire first.
    result = await asyncio.wait_for(ToolRegistry([slow]).execute("slow"), 5)
    assert isinstance(result, ToolCallError)
    assert result.kind == "timeout"
    assert str(result).startswith("Error: tool 'slow' timed out: no result within 0.05 seconds")


async def test_sync_tool_timeout() -> None:
    release = threading.Event()

    def stuck() -> str:
        release.wait(5)
        return "late"

    t = Tool.from_function(stuck, timeout=0.05)
    try:
        result = await t.execute()
    finally:
        release.set()
    assert isinstance(result, ToolCallError) and result.kind == "timeout"


async def test_tool_own_timeout_error_is_a_tool_error() -> None:
    async def flaky() -> None:
        raise TimeoutError("upstream timed out")

    result = await Tool.from_function(flaky, timeout=5).execute()
    assert isinstance(result, ToolCallError)
    assert (result.kind, result.message) == ("tool_error", "TimeoutError: upstream timed out")


async def test_cancellation_propagates() -> None:
    started = asyncio.Event()

    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(ToolRegistry([wait_forever]).execute("wait_forever"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_error_raised_by_tool_propagates() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await ToolRegistry([cancelled]).execute("cancelled")


# -- RunContext injection ------------------------------------------------------------------------


def _ctx_tools() -> ToolRegistry:
    def whoami(ctx: RunContext, greeting: str) -> str:
        return f"{greeting} from {ctx.run_id}"

    async def awhoami(greeting: str, context: RunContext) -> str:
        return f"{greeting} from {context.run_id}"

    return ToolRegistry([whoami, awhoami])


def test_run_context_is_not_in_the_schema() -> None:
    for t in _ctx_tools():
        assert t.parameters["properties"] == {"greeting": {"type": "string"}}
        assert t.parameters["required"] == ["greeting"]


async def test_run_context_is_injected(run_context: RunContext) -> None:
    tools = _ctx_tools()
    assert await tools.execute("whoami", '{"greeting": "hi"}') == "hi from run-1"
    assert await tools.execute("awhoami", '{"greeting": "yo"}') == "yo from run-1"


async def test_run_context_can_be_passed_explicitly() -> None:
    ctx = RunContext(run_id="explicit")
    assert await _ctx_tools().execute("whoami", '{"greeting": "hi"}', ctx=ctx) == "hi from explicit"


async def test_run_context_missing_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="takes a RunContext"):
        await _ctx_tools().execute("whoami", '{"greeting": "hi"}')


async def test_model_cannot_pass_the_context_itself(run_context: RunContext) -> None:
    result = await _ctx_tools().execute("whoami", '{"greeting": "hi", "ctx": "forged"}')
    assert isinstance(result, ToolCallError)
    assert "unexpected argument 'ctx'" in str(result)


async def test_optional_run_context_gets_none_outside_a_run() -> None:
    def maybe(ctx: RunContext | None = None) -> str:
        return "none" if ctx is None else ctx.run_id

    assert await ToolRegistry([maybe]).execute("maybe") == "none"


def test_direct_call_injects_run_context(run_context: RunContext) -> None:
    @tool
    def whoami(ctx: RunContext, greeting: str) -> str:
        return f"{greeting} from {ctx.run_id}"

    assert whoami("hi") == "hi from run-1"
    assert whoami(greeting="hi") == "hi from run-1"
    other = RunContext(run_id="other")
    assert whoami(other, "hi") == "hi from other"


# -- decorator and callability -------------------------------------------------------------------


def test_decorator_forms() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool(name="multiply", description="Multiply two numbers.")
    def mul(a: int, b: int) -> int:
        return a * b

    assert isinstance(add, Tool) and isinstance(mul, Tool)
    assert (add.name, add.description) == ("add", "Add two numbers.")
    assert (mul.name, mul.description) == ("multiply", "Multiply two numbers.")
    assert add(2, 3) == 5
    assert mul(a=2, b=3) == 6


async def test_async_tool_stays_awaitable_when_called() -> None:
    @tool
    async def double(x: int) -> int:
        return x * 2

    assert await double(4) == 8


async def test_registering_a_plain_function_wraps_it() -> None:
    tools = ToolRegistry()
    registered = tools.register(get_weather)
    assert isinstance(registered, Tool)
    assert tools.get("get_weather") is registered
    assert await tools.execute("get_weather", {"location": "Oslo"}) == get_weather("Oslo")


# -- registry ------------------------------------------------------------------------------------


def test_registry_collection_behaviour() -> None:
    tools = ToolRegistry([get_weather])
    search = tools.register(search_web)
    assert tools.names == ["get_weather", "search_web"]
    assert len(tools) == 2
    assert "search_web" in tools and search in tools and "nope" not in tools
    assert [t.name for t in tools] == ["get_weather", "search_web"]
    assert tools.get("nope") is None
    assert tools.unregister("search_web") is search
    assert tools.names == ["get_weather"]
    with pytest.raises(UserError, match="No tool named 'search_web'.*get_weather"):
        tools.unregister("search_web")


def test_duplicate_registration_is_an_error_unless_replace() -> None:
    tools = ToolRegistry([get_weather])
    with pytest.raises(UserError, match="'get_weather' is already registered.*replace=True"):
        tools.register(get_weather)

    def other() -> str:
        return "other"

    replacement = Tool.from_function(other, name="get_weather")
    tools.register(replacement, replace=True)
    assert tools.get("get_weather") is replacement
    assert len(tools) == 1


def test_registering_a_non_callable_is_an_error() -> None:
    with pytest.raises(UserError, match="needs a Tool or a function"):
        ToolRegistry().register(42)  # type: ignore[arg-type]


# -- names and construction ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get weather", "", "a" * 65, "météo", "a.b", "x\n"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(UserError, match="Invalid tool name"):
        Tool.from_function(get_weather, name=name)
    with pytest.raises(UserError, match="Invalid tool name"):
        Tool(name, "", {"type": "object"}, get_weather)


@pytest.mark.parametrize("name", ["a", "get-weather_2", "A" * 64])
def test_valid_names(name: str) -> None:
    assert Tool.from_function(get_weather, name=name).name == name


def test_lambda_needs_a_name() -> None:
    with pytest.raises(UserError, match="pass name="):
        Tool.from_function(lambda x: x)
    assert Tool.from_function(lambda x: x, name="identity").name == "identity"


def test_hand_built_tool_checks_its_fields() -> None:
    with pytest.raises(UserError, match="object schema"):
        Tool("t", "", {"type": "array"}, get_weather)
    with pytest.raises(UserError, match="must be callable"):
        Tool("t", "", {"type": "object"}, 3)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="timeout"):
        Tool("t", "", {"type": "object"}, get_weather, timeout=0)


# -- ToolCallError -------------------------------------------------------------------------------


def test_tool_call_error_value() -> None:
    error = ToolCallError(tool="t", message="boom", kind="tool_error")
    assert str(error) == "Error: tool 't' failed: boom."
    assert error.to_dict() == {
        "tool": "t",
        "kind": "tool_error",
        "message": "boom",
        "error": "Error: tool 't' failed: boom.",
    }
    with pytest.raises(AttributeError):
        error.message = "changed"  # type: ignore[misc]


@given(arguments=hostile_json_text() | hostile_bytes())
def test_any_model_arguments_give_a_tool_error_or_a_result_never_an_exception(arguments: str | bytes) -> None:
    """README: `execute()` never raises for a bad call, whatever the model sends."""
    tools, called = _make_strict_tools()
    result = asyncio.run(tools.execute("get_forecast", arguments))
    if isinstance(result, ToolCallError):
        assert result.kind == "invalid_arguments" and str(result).startswith("Error: tool 'get_forecast'")
    else:
        assert result == "ok" and called


@given(value=st.recursive(st.integers() | st.text(), lambda inner: st.lists(inner, max_size=2), max_leaves=3), depth=st.integers(100, 20_000))
def test_deep_dict_arguments_are_a_tool_error(value: Any, depth: int) -> None:
    tools, called = _make_strict_tools()
    for _ in range(depth):
        value = {"a": value}
    result = asyncio.run(tools.execute("get_forecast", {"location": "P", "days": 2, "tags": value}))
    assert isinstance(result, ToolCallError) and not called
