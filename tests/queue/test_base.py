"""Reading a queued payload: one run's bytes concern that run alone."""

from __future__ import annotations

import json

from hypothesis import given

from agent_runtime_core.queue import InMemoryQueue, QueuedRun
from agent_runtime_core.queue.base import read_payload
from agent_runtime_core.testing.hostile import hostile_bytes, poison_payloads


@given(hostile_bytes())
def test_any_payload_gives_a_run_or_a_reason_never_an_exception(payload: bytes) -> None:
    run, reason = read_payload("r", payload)
    assert run.run_id == "r"
    if reason is None:
        assert isinstance(run.input_data, dict) and run.agent_key
    else:
        assert reason.startswith("The queued payload of run 'r' ") and len(reason) < 1000


def test_every_poison_shape_gives_its_reason() -> None:
    for name, (payload, fragment) in poison_payloads("r", "agent").items():
        run, reason = read_payload("r", payload, max_bytes=len(payload) + 1)
        if name == "five-megabytes":
            assert reason is None  # readable; a worker refuses it for its size
        else:
            assert reason is not None and fragment in reason, name
    _, reason = read_payload("r", b"{}" * 10, max_bytes=10)
    assert reason is not None and "20 bytes, over the limit of 10 bytes" in reason


def test_a_reason_never_carries_the_payload() -> None:
    payload = json.dumps({"run_id": "r", "agent_key": 5, "input_data": {"api_key": "sk-do-not-leak"}})
    _, reason = read_payload("r", payload.encode())
    assert reason is not None and "sk-do-not-leak" not in reason


async def test_the_in_memory_queue_reads_raw_payloads_when_delivered() -> None:
    q = InMemoryQueue()
    good = json.dumps(QueuedRun("ok", "agent", {"messages": []}, priority=3).to_dict())
    assert await q.enqueue_raw("ok", good, priority=3)
    assert await q.enqueue_raw("bad", b"\xff")
    assert not await q.enqueue_raw("bad", b"again")  # known run id
    first, second = await q.dequeue("w", timeout=0.1), await q.dequeue("w", timeout=0.1)
    assert first is not None and first.run.run_id == "ok" and first.invalid is None
    assert first.run.priority == 3 and first.payload_bytes == len(good)
    assert second is not None and second.invalid is not None and "not UTF-8" in second.invalid
    assert await q.nack(second)  # given back, it is read again at the next delivery
    again = await q.dequeue("w", timeout=0.1)
    assert again is not None and again.invalid is not None and again.run.deliveries == 2
    assert await q.ack(again) and await q.ack(first) and await q.size() == 0
