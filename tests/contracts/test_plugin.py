"""The contracts as a user runs them: the pytest plugin, a backend of one's own passing, a broken
one failing, and the example of docs/deployment.md ("Your own backend") as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
PLUGIN = "agent_runtime_core.testing.contracts"

# Backends of one's own: the in-memory ones under other names, with the constructor of a store
# that keeps a file (the example of the doc passes a path).
MY_BACKENDS = '''
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue
from agent_runtime_core.state import InMemoryStateStore


class MyEventBus(InMemoryEventBus):
    pass


class MyRunQueue(InMemoryQueue):
    pass


class MyStateStore(InMemoryStateStore):
    def __init__(self, path):
        super().__init__()
        self.path = path
'''

EVENT_BUS_TESTS, RUN_QUEUE_TESTS, STATE_STORE_TESTS = 11, 7, 11

# The inner runs leave pytest-asyncio out (unconfigured, it warns): the contracts need no async
# plugin. They run next to it, in asyncio_mode=auto, in tests/contracts/conftest.py.
OPTIONS = ("-p", "no:cacheprovider", "-p", "no:asyncio")


def _doc_example(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"docs/deployment.md lost its example marked {marker}"
    return match.group(1)


def test_the_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    # Without it, tests/contracts/conftest.py would collect nothing: say so, rather than pass.
    assert pytestconfig.pluginmanager.get_plugin(PLUGIN) is not None, (
        "The backend contracts' pytest plugin is not loaded: `pip install -e .` registers its entry point."
    )


def test_the_documented_examples_run_the_contracts_against_ones_own_backends(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(my_backends=MY_BACKENDS)
    pytester.makeconftest(_doc_example("contract-doc-example"))
    pytester.makepyfile(test_my_state_store=_doc_example("contract-doc-example-subclass"))
    result = pytester.runpytest(*OPTIONS, "-v")
    # Every contract from the conftest.py, and the state store's once more from the subclass.
    result.assert_outcomes(passed=EVENT_BUS_TESTS + RUN_QUEUE_TESTS + 2 * STATE_STORE_TESTS)
    result.stdout.fnmatch_lines_random(
        [
            "conftest.py::EventBusContract::test_reconnect_with_last_seq_sees_each_event_once_in_order PASSED*",
            "conftest.py::RunQueueContract::test_expired_lease_is_redelivered_and_stale_lease_cannot_ack PASSED*",
            "conftest.py::StateStoreContract::test_saved_state_is_a_copy PASSED*",
            "test_my_state_store.py::TestMyStateStore::test_saved_state_is_a_copy PASSED*",
        ]
    )


def test_a_broken_backend_fails_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        '''
        import dataclasses

        import pytest

        from agent_runtime_core.queue import InMemoryQueue


        class DictStateStore:
            """Keeps references, not copies; no TTL; no check of keys or values."""

            def __init__(self):
                self.checkpoints, self.values = {}, {}

            async def save_checkpoint(self, run_id, state):
                self.checkpoints[run_id] = state

            async def get_checkpoint(self, run_id):
                return self.checkpoints.get(run_id)

            async def delete_checkpoint(self, run_id):
                self.checkpoints.pop(run_id, None)

            async def get(self, key):
                return self.values.get(key)

            async def set(self, key, value, *, ttl_seconds=None):
                self.values[key] = value

            async def delete(self, key):
                self.values.pop(key, None)

            async def list_keys(self, prefix=""):
                return sorted(k for k in self.values if k.startswith(prefix))

            async def close(self):
                pass


        class NoPriorityQueue(InMemoryQueue):
            async def enqueue(self, run, *, delay_seconds=0.0):
                return await super().enqueue(dataclasses.replace(run, priority=0), delay_seconds=delay_seconds)


        @pytest.fixture
        def make_state_store():
            return DictStateStore


        @pytest.fixture
        def make_run_queue():
            return NoPriorityQueue
        '''
    )
    result = pytester.runpytest(*OPTIONS)
    failed = {
        "RunQueueContract::test_protocol_and_fifo_within_priority",
        "RunQueueContract::test_round_trip_of_the_whole_run",
        "StateStoreContract::test_saved_state_is_a_copy",
        "StateStoreContract::test_key_value_with_ttl_and_prefix_listing",
        "StateStoreContract::test_non_json_values_are_refused_with_a_clear_error",
        "StateStoreContract::test_stored_values_are_held_to_the_read_limits",
        *(f"StateStoreContract::test_bad_keys_are_refused[{i}]" for i in ("", "a\\x00b", "bad2", "None", "5")),
    }
    result.assert_outcomes(failed=len(failed), passed=RUN_QUEUE_TESTS + STATE_STORE_TESTS - len(failed))
    reported = {line.split(" - ")[0].removeprefix("FAILED conftest.py::") for line in result.outlines if line.startswith("FAILED ")}
    assert reported == failed


def test_a_backend_that_hangs_fails_at_the_deadline_by_subclassing(pytester: pytest.Pytester) -> None:
    # The second way to run a contract: a subclass in a test module, its fixture in the class.
    pytester.makepyfile(
        test_hanging='''
        import asyncio

        import pytest

        from agent_runtime_core.events import InMemoryEventBus
        from agent_runtime_core.testing.contracts import EventBusContract


        class SilentBus(InMemoryEventBus):
            async def subscribe(self, run_id, after_seq=0):
                await asyncio.Event().wait()  # never yields, never ends
                yield


        class TestSilentBus(EventBusContract):
            contract_timeout = 0.5

            @pytest.fixture
            def make_event_bus(self):
                return SilentBus

            def test_something_of_ones_own(self):
                pass
        '''
    )
    result = pytester.runpytest(*OPTIONS, "-k", "subscriber_gets_past or something_of_ones_own")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*test_subscriber_gets_past_and_live_events_then_ends_at_terminal did not finish within 0.5 s*"]
    )


def test_with_autoloading_off_the_contract_runs_when_the_plugin_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(
        textwrap.dedent(
            '''
            import pytest

            from agent_runtime_core.state import InMemoryStateStore, SQLiteStateStore


            @pytest.fixture(params=["memory", "sqlite"])
            def make_state_store(request, tmp_path):
                if request.param == "memory":
                    return InMemoryStateStore
                return lambda: SQLiteStateStore(tmp_path / "s.db")
            '''
        )
    )
    assert pytester.runpytest(*OPTIONS).ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result = pytester.runpytest(*OPTIONS, "-p", PLUGIN)
    result.assert_outcomes(passed=2 * STATE_STORE_TESTS)
