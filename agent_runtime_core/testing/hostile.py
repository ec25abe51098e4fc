"""Hostile input, for tests: the poison payloads a queue may hold, and Hypothesis strategies for
the text, bytes and keys that reach the runtime's boundaries.

The runtime's own tests use these (queue payloads, tool arguments, keys, resume answers); so can
the tests of a custom queue, store or tool. `poison_payloads` needs nothing; the strategies need
`hypothesis` (`pip install hypothesis`), imported when they are first called.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "hostile_bytes",
    "hostile_json_text",
    "hostile_keys",
    "json_values",
    "poison_payloads",
]


def poison_payloads(run_id: str, agent_key: str) -> dict[str, tuple[bytes, str]]:
    """Queued payloads a worker must refuse, by name: `(payload, fragment of the reason)`.

    Each is the payload of a run queued as `run_id`; `agent_key` is a registered agent, so that
    only the payload is at fault. Payloads nest, quote and size themselves as the issue that
    found them did: 50,000 levels, 5 MB, a 5,000-digit integer.
    """

    def run(**changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": run_id,
            "agent_key": agent_key,
            "input_data": {"messages": [{"role": "user", "content": "hi"}]},
        }
        data.update(changes)
        return data

    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    def with_metadata(raw: bytes) -> bytes:  # `raw` spliced in as it is, unparsed
        return dumps(run(metadata={"n": "@"})).replace(b'"@"', raw)

    good = dumps(run())
    return {
        "not-utf8": (b"\xff\xfe\x00garbage", "not UTF-8"),
        "not-utf8-inside-a-string": (good.replace(b'"hi"', b'"\xc3\x28"'), "not UTF-8"),
        "deep-nesting": (with_metadata(b"[" * 50_000 + b"]" * 50_000), "deeper than 128"),
        "not-json": (b"{not json", "not valid JSON"),
        "empty": (b"", "not valid JSON"),
        "null": (b"null", "must be an object"),
        "array": (b"[1, 2]", "must be an object"),
        "wrong-agent-key-type": (dumps(run(agent_key=5)), "agent_key"),
        "input-not-object": (dumps(run(input_data="text")), "must be objects"),
        "priority-not-int": (dumps(run(priority="high")), "priority"),
        "run-id-mismatch": (dumps(run(run_id=run_id + "-other")), "but it was queued as"),
        "huge-int": (with_metadata(b"9" * 5000), "4300 digits"),
        "nan": (with_metadata(b"NaN"), "NaN"),
        "float-overflow": (with_metadata(b"1e999"), "too large for a float"),
        "lone-surrogate": (good.replace(b'"hi"', b'"\\udc80"'), "lone surrogate"),
        "five-megabytes": (dumps(run(metadata={"blob": "x" * 5_000_000})), "max_input_bytes"),
    }


def json_values(max_leaves: int = 20) -> SearchStrategy[Any]:
    """JSON-ready values: None, booleans, integers, finite floats, text, lists and dicts."""
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=max_leaves,
    )


def hostile_json_text() -> SearchStrategy[str]:
    """Text that is JSON, almost JSON, or JSON over a limit: deep nesting, long integers, huge
    exponents, NaN, lone surrogates (raw and escaped), cut at any point, with stray characters."""
    from hypothesis import strategies as st

    valid = json_values().map(json.dumps)
    deep = st.tuples(st.integers(1, 3000), st.sampled_from(["[", "{\"a\":"]), st.booleans()).map(
        lambda t: t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}") * (t[0] if t[2] else t[0] // 2)
    )
    numbers = st.sampled_from(["1e999", "-1e400", "NaN", "Infinity", "-Infinity", "1e-999", "0.5e308"]) | st.integers(
        4290, 4400
    ).map(lambda n: "9" * n)
    escapes = st.sampled_from(['"\\udc80"', '"\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\', '"\\u12'])
    atoms = valid | deep | numbers | escapes | st.text(max_size=40)

    def cut(pair: tuple[str, int]) -> str:
        text, at = pair
        return text[: at % (len(text) + 1)]

    cuts = st.tuples(valid, st.integers(0, 10_000)).map(cut)
    wrapped = st.tuples(atoms, st.sampled_from(['{"k": %s}', "[%s]", "%s", '{"run_id": "r", "x": %s}'])).map(
        lambda t: t[1] % t[0]
    )
    return atoms | cuts | wrapped


def hostile_bytes() -> SearchStrategy[bytes]:
    """Bytes that are UTF-8 JSON text, hostile JSON text, or arbitrary (not UTF-8)."""
    from hypothesis import strategies as st

    return (
        hostile_json_text().map(lambda s: s.encode("utf-8", "surrogatepass"))
        | st.binary(max_size=200)
        | st.tuples(hostile_json_text(), st.binary(min_size=1, max_size=4)).map(
            lambda t: t[0].encode("utf-8", "surrogatepass") + t[1]
        )
    )


def hostile_keys() -> SearchStrategy[str]:
    """Keys and ids an attacker would try: traversal, absolute paths, NUL and other controls,
    encoded dots, look-alikes, reserved device names, lone surrogates, very long ones."""
    from hypothesis import strategies as st

    classic = st.sampled_from(
        [
            "../x", "../../escape", "/etc/passwd", "a\x00b", ".", "..", "a/../../b", "C:\\x", "%2e%2e%2fx",
            "..%2f", "\u2024\u2024/x", "\uff0e\uff0e\uff0fx", "CON", "nul", "aux.txt", "COM1", "a\udc80b",
            "\ud800", "x" * 5000, "é" * 200, "a\nb", "a\tb", "\x7f", "\x85", " ", "~", "$HOME",
        ]
    )
    any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
    long_text = st.integers(200, 600).map(lambda n: "k" * n)
    return classic | any_text | long_text
