"""The one key check of the state stores, queues and persistence stores."""

from __future__ import annotations

import pytest
from hypothesis import given

from agent_runtime_core._keys import MAX_FILE_NAME_BYTES, check_key
from agent_runtime_core.errors import UserError
from agent_runtime_core.persistence import check_key as persistence_check_key
from agent_runtime_core.state.base import check_key as state_check_key
from agent_runtime_core.testing.hostile import hostile_keys


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("a\udc80b", "lone surrogate at character 1"),
        ("\ud800", "not valid Unicode text"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x7fb", "control characters"),
        ("a\x85b", "control characters"),  # C1: NEL
        ("", "non-empty string"),
        ("x" * 1025, "1025 characters long, over the limit of 1024"),
    ],
)
def test_what_no_backend_can_store_is_a_user_error(key: str, fragment: str) -> None:
    for check in (check_key, state_check_key, persistence_check_key):
        with pytest.raises(UserError, match="`key`") as caught:
            check(key)
        assert fragment in str(caught.value) or check is persistence_check_key  # 512 there
        assert str(caught.value).isascii()  # a hostile key is shown escaped, and short


def test_path_rules_and_file_name_size() -> None:
    for bad in ("../x", "a/b", "a\\b", ".", ".."):
        assert state_check_key(bad) == bad  # state keys are never paths
        with pytest.raises(UserError, match="must not contain '/'"):
            persistence_check_key(bad)
    assert check_key("é" * 127, max_bytes=MAX_FILE_NAME_BYTES) == "é" * 127  # 254 bytes
    with pytest.raises(UserError, match="256 bytes in UTF-8, over the limit of 255"):
        check_key("é" * 128, max_bytes=MAX_FILE_NAME_BYTES)
    assert check_key("user.name:été \u2603") == "user.name:été \u2603"


@given(hostile_keys())
def test_any_key_is_accepted_storable_or_refused_clearly(key: str) -> None:
    for check in (state_check_key, persistence_check_key):
        try:
            accepted = check(key)
        except UserError as e:
            assert str(e).isascii() and len(str(e)) < 400
            continue
        assert accepted == key
        key.encode("utf-8")  # storable: a file name, SQLite TEXT and a Redis key can all hold it
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in key)
        if check is persistence_check_key:
            assert "/" not in key and "\\" not in key and key not in (".", "..")
