from __future__ import annotations

from agent_runtime_core import ErrorInfo, configure
from agent_runtime_core._secrets import redact


def test_key_shapes_and_credentials_are_masked() -> None:
    text = (
        "auth failed for sk-proj-abcdefghijklmnop, header Bearer abc.def-ghi_jkl123, "
        "url redis://admin:p4ssw0rd@host:6379, langfuse sk-lf-1234567890"
    )
    out = redact(text)
    for secret in ("sk-proj-abcdefghijklmnop", "abc.def-ghi_jkl123", "p4ssw0rd", "sk-lf-1234567890"):
        assert secret not in out
    assert "auth failed for" in out and "host:6379" in out


def test_configured_secret_of_any_shape_is_masked_in_errors() -> None:
    configure(openai_api_key="plainsecretvalue42")
    error = ErrorInfo.from_exception(RuntimeError("provider said: key plainsecretvalue42 invalid"))
    assert "plainsecretvalue42" not in error.message
    assert "plainsecretvalue42" not in (error.traceback or "")
    assert "provider said" in error.message


def test_redact_leaves_ordinary_text_alone() -> None:
    assert redact("The weather in Paris is sunny, 72°F") == "The weather in Paris is sunny, 72°F"
