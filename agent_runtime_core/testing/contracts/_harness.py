"""How a contract test runs: in an event loop of its own, with backends made by the user's factory
inside that loop and closed at its end, under a deadline.

The tests are plain (synchronous) pytest tests, so the contract needs no async plugin; the factory
fixture is a plain fixture too, and the backends it makes live in the loop that uses them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import pytest

__all__ = ["DEFAULT_TIMEOUT", "Backends", "contract_test"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds a contract test may take before it fails (a broken backend must not hang the suite)."""


class Backends(Generic[T]):
    """Makes backends with the factory the user's fixture returned, in the test's event loop.

    `await make(**options)` calls the factory (awaiting its result if it is awaitable); every
    backend made is closed after the test (`close()`, awaited if it is a coroutine), if it has one.
    """

    def __init__(self, factory: Callable[..., Any], fixture: str) -> None:
        if not callable(factory):
            raise TypeError(
                f"The `{fixture}` fixture must return a factory (a callable making a backend); "
                f"got {factory!r}."
            )
        self._factory = factory
        self._fixture = fixture
        self._made: list[Any] = []

    async def __call__(self, **options: Any) -> T:
        backend = self._factory(**options)
        if inspect.isawaitable(backend):
            backend = await backend
        self._made.append(backend)
        return backend  # type: ignore[no-any-return]

    async def close_all(self) -> None:
        """Close every backend made, the last made first; the first error is raised at the end."""
        errors: list[BaseException] = []
        while self._made:
            close = getattr(self._made.pop(), "close", None)
            if not callable(close):
                continue
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]


Body = Callable[..., Awaitable[None]]


def contract_test(fixture: str) -> Callable[[Body], Callable[..., None]]:
    """Turn `async def test_x(self, make, *params)` into a pytest test `test_x(self, <fixture>,
    *params)` that runs the body in a new event loop with `make` a `Backends` of that fixture's
    factory, within the class's `contract_timeout` seconds."""

    def decorate(body: Body) -> Callable[..., None]:
        signature = inspect.signature(body)
        this, _make, *params = signature.parameters.values()
        name = body.__name__

        def test(self: Any, **kwargs: Any) -> None:
            factory = kwargs.pop(fixture)
            timeout = float(getattr(self, "contract_timeout", DEFAULT_TIMEOUT))

            async def main() -> None:
                make: Backends[Any] = Backends(factory, fixture)
                try:
                    try:
                        async with asyncio.timeout(timeout) as deadline:
                            await body(self, make, **kwargs)
                    except TimeoutError:
                        if deadline.expired():
                            pytest.fail(f"{name} did not finish within {timeout:g} s", pytrace=False)
                        raise
                finally:
                    await make.close_all()

            asyncio.run(main())

        test.__name__ = name
        test.__qualname__ = body.__qualname__
        test.__doc__ = body.__doc__
        test.__module__ = body.__module__
        test.__dict__.update(body.__dict__)  # marks (pytest.mark.parametrize) set below this one
        fixture_param = inspect.Parameter(fixture, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        test.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[this, fixture_param, *params], return_annotation=None
        )
        return test

    return decorate
