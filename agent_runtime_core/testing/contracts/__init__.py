"""The backend contracts: what every `EventBus`, `RunQueue` and `StateStore` does, as pytest
tests, so a backend of your own is tested the way ours are (memory, SQLite, Redis).

Each contract is a class of tests taking a factory fixture, a plain fixture returning a callable
that makes a new, empty backend (or an awaitable of one) in the test's event loop:

| Contract | Fixture | The factory is called with |
|---|---|---|
| `EventBusContract` | `make_event_bus` | nothing |
| `RunQueueContract` | `make_run_queue` | nothing, or `lease_seconds=` |
| `StateStoreContract` | `make_state_store` | nothing |

Two ways to run one:

- Define the fixture in a conftest.py and run pytest: this package is a pytest plugin (entry point
  `pytest11`, loaded by itself once agent-runtime-core is installed; or
  `pytest -p agent_runtime_core.testing.contracts`), which collects the contract next to the
  conftest.py that defines its fixture. A parametrized fixture runs it once per backend.
- Or subclass the contract in a test module, with the fixture in the class (in a conftest.py, the
  plugin would collect the contract there as well): `class TestMyStore(StateStoreContract): ...`.

The tests run their own event loop (no pytest-asyncio needed) and fail after `contract_timeout`
seconds (60 by default; a class attribute). See docs/deployment.md, "Your own backend".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The plugin's hook, so that `-p agent_runtime_core.testing.contracts` (this module) registers it;
# not in `__all__`: a conftest.py that star-imports this module must not become the plugin too.
from .plugin import pytest_collect_file as pytest_collect_file

if TYPE_CHECKING:
    from .event_bus import EventBusContract
    from .queue import RunQueueContract
    from .state_store import StateStoreContract

__all__ = ["EventBusContract", "RunQueueContract", "StateStoreContract"]

# The plugin loads in every pytest run where agent-runtime-core is installed: the contracts (and
# the runtime's modules they test) are imported only when asked for.
_LAZY_EXPORTS = {
    "EventBusContract": ".event_bus",
    "RunQueueContract": ".queue",
    "StateStoreContract": ".state_store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
