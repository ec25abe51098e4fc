"""`Tool`, the `@tool` decorator, and `ToolCallError`, the value a failed tool call gives."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import traceback as _traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, get_origin, overload

from .. import _secrets
from .._redaction import get_logger
from ..context import RunContext, current_run_context
from ..errors import UserError
from ._docstring import parse_docstring
from ._schema import MISSING, Converter, json_default, schema_for, without_none
from ._validate import check_object, label, parse_arguments

__all__ = ["Tool", "ToolCallError", "ToolCallErrorKind", "tool"]

logger = get_logger("agent_runtime_core.tools")

_NAME_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")

ToolCallErrorKind = Literal["invalid_arguments", "unknown_tool", "tool_error", "timeout"]

_PREFIXES: Final[dict[str, str]] = {
    "invalid_arguments": "tool {tool!r} got invalid arguments",
    "unknown_tool": "unknown tool {tool!r}",
    "tool_error": "tool {tool!r} failed",
    "timeout": "tool {tool!r} timed out",
}


@dataclass(frozen=True)
class ToolCallError:
    """Why a tool call produced no result, returned (never raised) by `ToolRegistry.execute`.

    It is a value rather than an exception because the model, not the developer, made the mistake
    and can fix it: put `str(error)` in the tool message and the model reads what went wrong and
    what was expected. Check for it with `isinstance(result, ToolCallError)`.
    """

    tool: str
    """The name of the tool the model called."""
    message: str
    """What went wrong (redacted: no key-shaped string survives)."""
    kind: ToolCallErrorKind
    """`invalid_arguments`, `unknown_tool`, `tool_error` (the tool raised) or `timeout`."""
    expected: str | None = None
    """For `invalid_arguments`: the tool's JSON schema, so the model can correct its call."""

    def __str__(self) -> str:
        prefix = _PREFIXES.get(self.kind, "tool {tool!r} failed").format(tool=self.tool)
        message = self.message.rstrip()
        if message and message[-1] not in ".!?":
            message += "."
        text = f"Error: {prefix}: {message}"
        if self.expected:
            text += f" Expected: {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, e.g. for the `error` of a TOOL_RESULT event."""
        return {"tool": self.tool, "kind": self.kind, "message": self.message, "error": str(self)}


# -- what a function looks like --------------------------------------------------------------------


def _callable_name(fn: Any) -> str | None:
    target = fn.func if isinstance(fn, functools.partial) else fn
    name = getattr(target, "__name__", None)
    if name is None and not inspect.isroutine(target):
        name = type(target).__name__
    return name if isinstance(name, str) else None


def _hint_target(fn: Any) -> Any:
    """What `typing.get_type_hints` should read for `fn` (a partial's function, an object's
    `__call__`)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isclass(fn):
        return fn.__init__
    if inspect.isroutine(fn):
        return fn
    return type(fn).__call__ if callable(fn) else fn


def _resolve_hints(fn: Any, *, strict: bool) -> dict[str, Any]:
    target = _hint_target(fn)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        if strict:
            raise UserError(
                f"Cannot read the type hints of {_callable_name(fn) or fn!r}: {exc}. Tool "
                "functions' parameter types must be importable from their module (not defined "
                "inside a function when `from __future__ import annotations` is on)."
            ) from exc
        raw = getattr(target, "__annotations__", None)
        return dict(raw) if isinstance(raw, dict) else {}


def _context_param(annotation: Any) -> tuple[bool, bool]:
    """(is this a `RunContext` parameter, may it be None)."""
    if isinstance(annotation, str):  # an unresolved hint on a hand-built Tool
        text = annotation.replace(" ", "")
        if text.rsplit(".", 1)[-1] == "RunContext":
            return True, False
        optional = {"RunContext|None", "None|RunContext", "Optional[RunContext]"}
        return (True, True) if text in optional else (False, False)
    while get_origin(annotation) is Annotated:
        annotation = annotation.__origin__
    if isinstance(annotation, type) and issubclass(annotation, RunContext):
        return True, False
    inner = without_none(annotation)
    if inner is not MISSING and isinstance(inner, type) and issubclass(inner, RunContext):
        return True, True
    return False, False


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # An object whose class defines `async def __call__`.
    return (
        callable(fn)
        and not inspect.isroutine(fn)
        and not inspect.isclass(fn)
        and inspect.iscoroutinefunction(type(fn).__call__)
    )


# -- Tool ------------------------------------------------------------------------------------------


@dataclass
class Tool:
    """A function a model can call: its name, what it does, its JSON schema, and the callable.

    Build one with `Tool.from_function(fn)` or the `@tool` decorator, which derive the schema from
    type hints and the docstring, or by hand with a raw JSON schema (it is used to validate the
    model's arguments too). A `Tool` stays callable like the function it wraps.
    """

    name: str
    """What the model calls it; must match `^[a-zA-Z0-9_-]{1,64}$` (OpenAI's rule)."""
    description: str
    """What the tool does, for the model to decide when to call it."""
    parameters: dict[str, Any]
    """The JSON schema (an object schema) of the arguments."""
    fn: Callable[..., Any]
    """The callable, sync (run in a worker thread) or async (awaited)."""
    timeout: float | None = None
    """Seconds a call may take before it is abandoned as a `timeout` error; None for no limit."""

    _converters: dict[str, Converter] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _context_param: str | None = field(default=None, init=False, repr=False, compare=False)
    _context_optional: bool = field(default=False, init=False, repr=False, compare=False)
    _is_async: bool = field(default=False, init=False, repr=False, compare=False)
    _positional_only: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _signature: inspect.Signature | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.description, str):
            raise UserError(f"Tool {self.name!r}: `description` must be a str.")
        if not isinstance(self.parameters, dict):
            raise UserError(
                f"Tool {self.name!r}: `parameters` must be a JSON schema dict, e.g. "
                '{"type": "object", "properties": {...}, "required": [...]}.'
            )
        if self.parameters.get("type", "object") != "object":
            raise UserError(
                f"Tool {self.name!r}: `parameters` must be an object schema "
                f'({{"type": "object", ...}}); got type {self.parameters.get("type")!r}.'
            )
        if not callable(self.fn):
            raise UserError(f"Tool {self.name!r}: `fn` must be callable; got {self.fn!r}.")
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not self.timeout > 0
        ):
            raise UserError(
                f"Tool {self.name!r}: `timeout` must be a positive number of seconds or None; "
                f"got {self.timeout!r}."
            )
        self._is_async = _is_async_callable(self.fn)
        try:
            self._signature = inspect.signature(self.fn)
        except (TypeError, ValueError):  # some builtins have none: call with keywords only
            self._signature = None
            return
        hints = _resolve_hints(self.fn, strict=False)
        positional_only: list[str] = []
        for param in self._signature.parameters.values():
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional_only.append(param.name)
            annotation = hints.get(param.name, param.annotation)
            is_context, optional = _context_param(annotation)
            if is_context and self._context_param is None:
                self._context_param = param.name
                self._context_optional = optional or param.default is not param.empty
        self._positional_only = tuple(positional_only)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Build a `Tool` from a function's signature, type hints and docstring.

        The description is the docstring's first paragraph; parameter descriptions come from its
        `Args:` section (or reST `:param x:` fields), or from `Annotated[X, "text"]`, which wins.
        A parameter annotated `RunContext` is left out of the schema and filled in on each call
        with the current run's context.

        Args:
            fn: The function, sync or async.
            name: The tool's name; defaults to the function's `__name__`.
            description: Overrides the docstring's first paragraph.
            timeout: Seconds a call may take; None for no limit.

        Raises:
            UserError: The function takes `*args`/`**kwargs`, uses a type that has no JSON schema
                form, or its name is not a valid tool name.
        """
        if isinstance(fn, Tool):
            tool_obj = fn
            fn = tool_obj.fn
            name = name or tool_obj.name
            description = description if description is not None else tool_obj.description
            timeout = timeout if timeout is not None else tool_obj.timeout
        if not callable(fn):
            raise UserError(f"Tool.from_function needs a callable; got {fn!r}.")
        if name is None:
            name = _callable_name(fn)
            if name is None or not _NAME_RE.fullmatch(name):
                raise UserError(
                    f"Cannot name a tool after {fn!r} (its name {name!r} is not a valid tool "
                    "name); pass name=..., e.g. Tool.from_function(fn, name='my_tool')."
                )
        _check_name(name)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise UserError(f"Tool {name!r}: cannot read the signature of {fn!r}: {exc}.") from exc
        hints = _resolve_hints(fn, strict=True)
        doc_target = fn.func if isinstance(fn, functools.partial) else fn
        summary, param_docs = parse_docstring(inspect.getdoc(doc_target))

        properties: dict[str, Any] = {}
        required: list[str] = []
        converters: dict[str, Converter] = {}
        for param in signature.parameters.values():
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                star = "*" if param.kind is inspect.Parameter.VAR_POSITIONAL else "**"
                raise UserError(
                    f"Tool {name!r}: `{star}{param.name}` is not supported; a model calls a tool "
                    "with named arguments, so give each one its own typed parameter."
                )
            annotation = hints.get(param.name, Any)
            if _context_param(annotation)[0]:
                continue
            has_default = param.default is not inspect.Parameter.empty
            if has_default and param.default is None:
                inner = without_none(annotation)
                if inner is not MISSING:
                    annotation = inner  # Optional[X] = None: an optional X, not a nullable one
            where = f"Tool {name!r}, parameter {param.name!r}"
            schema, conv = schema_for(annotation, where)
            schema = dict(schema)
            if "description" not in schema and param_docs.get(param.name):
                schema["description"] = param_docs[param.name]
            if has_default:
                default = json_default(param.default)
                if default is not MISSING:
                    schema["default"] = default
            else:
                required.append(param.name)
            properties[param.name] = schema
            if conv is not None:
                converters[param.name] = conv

        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            parameters["required"] = required
        parameters["additionalProperties"] = False
        result = cls(
            name=name,
            description=description if description is not None else summary,
            parameters=parameters,
            fn=fn,
            timeout=timeout,
        )
        result._converters = converters
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as if undecorated (a `RunContext` parameter left out is
        filled in with the current run's context)."""
        param = self._context_param
        if param is None or self._signature is None or param in kwargs:
            return self.fn(*args, **kwargs)
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            bound = None
        if bound is not None and param in bound.arguments:
            return self.fn(*args, **kwargs)
        without = self._signature.replace(
            parameters=[p for p in self._signature.parameters.values() if p.name != param]
        )
        arguments = dict(without.bind(*args, **kwargs).arguments)
        arguments[param] = self._run_context(None)
        call_args, call_kwargs = self._split(arguments)
        return self.fn(*call_args, **call_kwargs)

    def to_openai_format(self) -> dict[str, Any]:
        """The tool as OpenAI's `tools=[...]` entry (a fresh copy each time)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": json.loads(json.dumps(self.parameters, default=str)),
            },
        }

    async def execute(
        self, arguments: str | bytes | dict[str, Any] | None = None, *, ctx: Any = None
    ) -> Any:
        """Run one model call of this tool; see `ToolRegistry.execute`."""
        parsed = parse_arguments(arguments)
        if isinstance(parsed, str):
            return self._invalid([parsed])
        values, errors = check_object(parsed, self.parameters, "", strict=True)
        if errors:
            return self._invalid(errors)
        for key, convert in self._converters.items():
            if key in values:
                try:
                    values[key] = convert(values[key])
                except Exception as exc:  # validated already: only an odd Enum can get here
                    return self._invalid([f"{label(key)}: {exc}"])
        if self._context_param is not None:
            values[self._context_param] = self._run_context(ctx)
        call_args, call_kwargs = self._split(values)
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                if self._is_async:
                    result = await self.fn(*call_args, **call_kwargs)
                else:
                    result = await asyncio.to_thread(self.fn, *call_args, **call_kwargs)
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError as exc:
            if not deadline.expired():  # the tool's own TimeoutError, not our deadline
                return self._failed(exc)
            logger.warning("Tool %r timed out after %ss", self.name, self.timeout)
            return ToolCallError(
                tool=self.name,
                kind="timeout",
                message=f"no result within {self.timeout:g} seconds; try a smaller request",
            )
        except Exception as exc:
            return self._failed(exc)
        return result

    # -- helpers ----------------------------------------------------------------------------------

    def _run_context(self, ctx: Any) -> Any:
        if ctx is None:
            ctx = current_run_context()
        if ctx is None and not self._context_optional:
            raise UserError(
                f"Tool {self.name!r} takes a RunContext ({self._context_param!r}) but no run is "
                "executing here; call it from inside an agent's run, or pass ctx=..."
            )
        return ctx

    def _split(self, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if not self._positional_only:
            return [], values
        args: list[Any] = []
        for name in self._positional_only:
            if name not in values:
                break
            args.append(values.pop(name))
        return args, values

    def _invalid(self, problems: list[str]) -> ToolCallError:
        message = "; ".join(problems)
        logger.debug("Tool %r got invalid arguments: %s", self.name, message)
        try:
            expected = json.dumps(self.parameters, ensure_ascii=False, default=str)
        except ValueError:
            expected = None
        return ToolCallError(
            tool=self.name,
            kind="invalid_arguments",
            message=_secrets.redact(message),
            expected=expected,
        )

    def _failed(self, exc: Exception) -> ToolCallError:
        text = str(exc)
        message = _secrets.redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        trace = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.warning("Tool %r failed: %s\n%s", self.name, message, _secrets.redact(trace))
        return ToolCallError(tool=self.name, kind="tool_error", message=message)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise UserError(
            f"Invalid tool name {name!r}: use 1 to 64 letters, digits, '_' or '-' "
            "(OpenAI's rule, ^[a-zA-Z0-9_-]{1,64}$)."
        )


# -- @tool -----------------------------------------------------------------------------------------


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a `Tool`: `@tool` or `@tool(name=..., description=..., timeout=...)`.

    The decorated name is the `Tool`, still callable like the function.
    """
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description, timeout=timeout)

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool.from_function(func, name=name, description=description, timeout=timeout)

    return decorate
