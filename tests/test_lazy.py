"""`lazy_exports`: the module `__getattr__` / `__dir__` the package `__init__`s share."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from agent_runtime_core._lazy import lazy_exports


@pytest.fixture
def package() -> Iterator[types.ModuleType]:
    module = types.ModuleType("fake_pkg")
    sys.modules["fake_pkg"] = module
    module.__getattr__, module.__dir__ = lazy_exports(  # type: ignore[method-assign]
        "fake_pkg", {"dumps": "json", "Missing": "json"}
    )
    yield module
    del sys.modules["fake_pkg"]


def test_a_name_is_imported_on_first_use_and_cached(package: types.ModuleType) -> None:
    import json

    assert "dumps" not in vars(package)
    assert package.dumps is json.dumps
    assert vars(package)["dumps"] is json.dumps


def test_unknown_names_raise_attribute_error_like_a_module(package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="^module 'fake_pkg' has no attribute 'nope'$"):
        _ = package.nope
    assert not hasattr(package, "nope")
    with pytest.raises(AttributeError):  # listed, but the module does not have it
        _ = package.Missing


def test_dir_lists_lazy_names_before_they_are_loaded(package: types.ModuleType) -> None:
    assert {"dumps", "Missing", "__name__"} <= set(dir(package))


def test_core_packages_use_it() -> None:
    import agent_runtime_core.queue as queue

    assert "RedisQueue" in dir(queue)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = queue.Nope
