"""The pytest plugin: a conftest.py that defines a backend factory fixture gets the contract.

Registered as the `pytest11` entry point `agent_runtime_core.testing.contracts` (so it loads by
itself once agent-runtime-core is installed; `-p agent_runtime_core.testing.contracts` loads it
when plugin autoloading is off, `-p no:agent_runtime_core.testing.contracts` turns it off). It
does nothing unless a collected conftest.py defines one of the fixtures of `FIXTURES`: then the
matching contract classes are collected as if they were in that conftest.py, and the fixture of
that conftest.py (with its parameters, if any) supplies the backends.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["FIXTURES", "ContractModule", "pytest_collect_file"]

FIXTURES = {
    "make_event_bus": ("event_bus", "EventBusContract"),
    "make_run_queue": ("queue", "RunQueueContract"),
    "make_state_store": ("state_store", "StateStoreContract"),
}
"""Factory fixture name -> (module of `agent_runtime_core.testing.contracts`, contract class)."""


def _defines(module: object, fixture: str) -> bool:
    """Whether the conftest module defines a fixture of that name (under its function's name or
    `@pytest.fixture(name=...)`)."""
    if hasattr(module, fixture):
        return True
    for value in vars(module).values():
        if not callable(value):
            continue
        for holder in (value, getattr(value, "_pytestfixturefunction", None)):
            if isinstance(getattr(holder, "name", None), str) and holder.name == fixture:  # type: ignore[union-attr]
                return True
    return False


class ContractModule(pytest.Module):
    """The contracts a conftest.py asked for, collected under that conftest.py."""

    contracts: list[type] = []

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(f"agent_runtime_core.testing.contracts[{self.path}]")
        module.__file__ = str(self.path)
        for contract in self.contracts:
            setattr(module, contract.__name__, contract)
        return module

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        # The classes are collected whatever `python_classes` says: they are asked for by name.
        return [pytest.Class.from_parent(self, name=contract.__name__) for contract in self.contracts]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect the contracts whose factory fixture a conftest.py defines."""
    if file_path.name != "conftest.py":
        return None
    conftest: Any = parent.config.pluginmanager.get_plugin(str(file_path))
    if conftest is None:
        return None
    contracts = []
    for fixture, (module, name) in FIXTURES.items():
        if _defines(conftest, fixture):
            contracts.append(getattr(importlib.import_module(f".{module}", __package__), name))
    if not contracts:
        return None
    node = ContractModule.from_parent(parent, path=file_path)
    node.contracts = contracts
    return node
