"""What reaches a Temporal history: every payload and failure passes our secret redaction first.

A run's input, results, interrupts, resume answers, memos and error messages are all stored by the
Temporal server in the workflow's history (and shown in its UI), so the data converter of our
client masks known secrets and key-shaped strings in them, as our errors and traces do: a JSON
payload is decoded, each string in it redacted, and encoded again (text is never cut blindly, so
the JSON stays valid); failure messages and stack traces are redacted the same way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import temporalio.converter
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from .. import _secrets

__all__ = ["data_converter", "redact_value"]

_JSON = b"json/plain"


def redact_value(value: Any) -> Any:
    """`value` with every string in it (keys included) redacted."""
    if isinstance(value, str):
        return _secrets.redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


class _RedactingCodec(temporalio.converter.PayloadCodec):
    """Masks secrets in JSON payloads on their way to the server; decoding changes nothing."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") == _JSON and payload.data:
                text = payload.data.decode("utf-8", errors="replace")
                if _secrets.redact(text) != text:  # something to mask: rewrite it string by string
                    value = redact_value(json.loads(payload.data))
                    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
                    payload = Payload(metadata=dict(payload.metadata), data=data)
            out.append(payload)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


class _RedactingFailureConverter(temporalio.converter.DefaultFailureConverter):
    """Temporal's failure converter, with messages and stack traces redacted (causes included)."""

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: temporalio.converter.PayloadConverter,
        failure: Failure,
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        current: Failure | None = failure
        while current is not None:
            current.message = _secrets.redact(current.message)
            current.stack_trace = _secrets.redact(current.stack_trace)
            current = current.cause if current.HasField("cause") else None


def data_converter() -> temporalio.converter.DataConverter:
    """Temporal's default JSON converter with our redaction on everything that leaves."""
    return dataclasses.replace(
        temporalio.converter.DataConverter.default,
        payload_codec=_RedactingCodec(),
        failure_converter_class=_RedactingFailureConverter,
    )
