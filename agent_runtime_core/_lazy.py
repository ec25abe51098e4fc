"""Lazy exports for package `__init__`s: a name is imported from its module on first use.

Backends that need an extra (`RedisQueue`, `OpenTelemetryTraceSink`, ...) are listed in their
package's `__all__` and imported under `TYPE_CHECKING` for type checkers, but only imported for
real when the name is first read, so the package imports without the extra installed::

    __getattr__, __dir__ = lazy_exports(__name__, {"RedisQueue": ".redis"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module_name: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level `__getattr__` and `__dir__` for the module named `module_name`.

    Args:
        module_name: The package's `__name__`.
        exports: Each lazy name and the module it comes from, relative to the package
            (`".redis"`) or absolute.

    Returns:
        `(__getattr__, __dir__)`. `__getattr__` imports the name's module on first use and caches
        the value in the package's globals (later reads do not reach it); any other name raises
        `AttributeError` as a module does. `__dir__` lists the lazy names with the loaded ones.
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        source = table.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, module_name), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[module_name]), *table})

    return __getattr__, __dir__
