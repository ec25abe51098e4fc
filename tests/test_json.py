"""The bounded JSON loader every input boundary uses: limits named in clear errors, never a crash."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime_core._json import (
    MAX_DEPTH,
    dumps_bounded,
    json_depth_exceeds,
    loads_bounded,
    redacted_prefix,
    value_depth_exceeds,
)
from agent_runtime_core._secrets import register_secret
from agent_runtime_core.errors import InvalidInputError, UserError
from agent_runtime_core.testing.hostile import hostile_bytes, hostile_json_text, json_values


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def load(data: bytes | str, **limits: Any) -> Any:
    limits.setdefault("max_bytes", 1_000_000)
    return loads_bounded(data, what="The payload", **limits)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xff{}", "not UTF-8 text (byte 0xff at offset 0)"),
        ("[" * 50_000 + "]" * 50_000, "deeper than 128 levels (the limit)"),
        ('{"a": ' + "[" * 129 + "]" * 129 + "}", "deeper than 128 levels"),
        ("[" + "7" * 4301 + "]", "more than 4300 digits (the limit)"),
        ("[-" + "7" * 4301 + "]", "more than 4300 digits"),
        ('{"x": 1e999}', "too large for a float (1e999)"),
        ("[NaN]", "holds NaN"),
        ("[-Infinity]", "holds -Infinity"),
        ('["\\udc80"]', "lone surrogate (\\udc80)"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ("[\"a\udc80\"]", "lone surrogate at character 3"),
        ("x" * 2_000_000, "over the limit of 1000000 bytes"),
        (b"x" * 1_000_001, "1000001 bytes, over the limit of 1000000 bytes"),
        ("é" * 600_000, "1200000 bytes, over the limit"),
        ("{not json", "not valid JSON"),
        ('"' + '\\"' * 100_000 + "[" * 300, "not valid JSON"),  # unterminated: still linear
    ],
)
def test_each_limit_is_a_clear_invalid_input_error(data: bytes | str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load(data)
    assert fragment in str(caught.value) and str(caught.value).startswith("The payload ")


def test_within_the_limits_it_is_the_stdlib_parser() -> None:
    text = json.dumps({"a": [[[1, 2.5, "\U0001f600", "\\ud83d\\ude00"]]], "n": 10**4299, "e": 1e308, "t": 1e-999})
    assert load(text) == json.loads(text)
    assert load("[" * MAX_DEPTH + "]" * MAX_DEPTH) == json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert load('"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate *pair* is one character
    assert load(b'{"a": "[[[[[[" }', max_depth=1) == {"a": "[[[[[["}  # brackets in strings do not count


def test_the_limit_does_not_depend_on_the_interpreters_digit_setting() -> None:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # unlimited: the loader still refuses
    try:
        with pytest.raises(InvalidInputError, match="4300 digits"):
            load("[" + "1" * 5000 + "]")
    finally:
        sys.set_int_max_str_digits(before)


def test_writes_are_held_to_the_read_limits() -> None:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(UserError, match="deeper than 128"):
        dumps_bounded(deep, what="A value", error=UserError)
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(UserError, match="JSON-serializable"):
        dumps_bounded(circular, what="A value", error=UserError)
    with pytest.raises(UserError, match="lone surrogate"):
        dumps_bounded({"k": "\udc80"}, what="A value", error=UserError)
    with pytest.raises(UserError, match="JSON-serializable"):
        dumps_bounded(float("nan"), what="A value", error=UserError)
    with pytest.raises(UserError, match="over the limit of 10 bytes"):
        dumps_bounded("x" * 20, what="A value", max_bytes=10, error=UserError)
    very_deep: Any = {}
    for _ in range(100_000):
        very_deep = {"a": very_deep}
    assert value_depth_exceeds(very_deep, MAX_DEPTH) and not value_depth_exceeds({"a": [1]}, 2)


def test_redacted_prefix_is_short_printable_and_masks_secrets() -> None:
    register_secret("sk-test-secret-123456")
    shown = redacted_prefix(b'{"key": "sk-test-secret-123456", "pad": "' + b"\xff\x00" * 100, 40)
    assert "sk-test-secret-123456" not in shown and len(shown) <= 43 and shown.isprintable()
    assert shown.endswith("...")


@given(hostile_bytes())
def test_any_bytes_give_a_value_or_a_clear_error(data: bytes) -> None:
    try:
        value = load(data, max_bytes=50_000)
    except InvalidInputError as e:
        assert str(e).startswith("The payload ")
        return
    # What it accepts is what the stdlib reads, within the limits, and storable as UTF-8.
    assert value == json.loads(data.decode("utf-8"))
    assert depth(value) <= MAX_DEPTH
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


@given(hostile_json_text())
def test_any_text_gives_a_value_or_a_clear_error(text: str) -> None:
    try:
        value = load(text, max_bytes=50_000)
    except InvalidInputError:
        return
    assert depth(value) <= MAX_DEPTH
    assert dumps_bounded(value, what="x") is not None  # anything read can be written back


@given(json_values(), st.integers(1, 12))
def test_the_depth_scan_agrees_with_the_parsed_value(value: Any, limit: int) -> None:
    text = json.dumps(value)
    assert json_depth_exceeds(text, limit) == (depth(value) > limit)
    assert value_depth_exceeds(value, limit) == (depth(value) > limit)


@pytest.mark.parametrize("interpreter_limit", [0, 640, 4300, 10_000])
def test_a_write_refuses_an_int_the_loader_would_refuse_whatever_the_interpreters_setting(
    interpreter_limit: int,
) -> None:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(interpreter_limit)
    try:
        with pytest.raises(UserError, match="4300 digits|640 digits"):
            dumps_bounded({"n": 7 * 10**4300}, what="A value", error=UserError)  # 4301 digits
        assert dumps_bounded({"n": 7}, what="A value", error=UserError) == '{"n":7}'
    finally:
        sys.set_int_max_str_digits(before)
