from __future__ import annotations

import logging

import pytest

from agent_runtime_core import ConfigurationError, configure, get_config
from agent_runtime_core.config import RuntimeConfig, reset_config


def test_defaults_match_the_spec_table() -> None:
    config = get_config()
    assert config.model_provider == "openai"
    assert config.default_model == "gpt-4o"
    assert config.queue_backend == "memory"
    assert config.event_bus_backend == "memory"
    assert config.state_store_backend == "memory"
    assert config.redis_url is None
    assert config.langfuse_enabled is False


def test_configure_sets_and_keeps_earlier_settings() -> None:
    configure(model_provider="anthropic")
    configure(default_model="claude-x")
    config = get_config()
    assert (config.model_provider, config.default_model) == ("anthropic", "claude-x")


def test_unknown_setting_names_the_allowed_ones_and_suggests() -> None:
    with pytest.raises(ConfigurationError) as info:
        configure(model_provder="openai")
    message = str(info.value)
    assert "model_provder" in message and "Did you mean `model_provider`" in message
    assert "queue_backend" in message  # lists the known settings


@pytest.mark.parametrize(
    ("setting", "value", "allowed"),
    [
        ("model_provider", "gemini", "'openai', 'anthropic', 'litellm'"),
        ("queue_backend", "kafka", "'memory', 'redis'"),
        ("event_bus_backend", "sqlite", "'memory', 'redis'"),
        ("state_store_backend", "postgres", "'memory', 'redis', 'sqlite'"),
    ],
)
def test_bad_backend_or_provider_names_the_allowed_values(setting: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError, match=allowed):
        configure(**{setting: value})
    assert getattr(get_config(), setting) != value  # a rejected call changes nothing


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="True or False"):
        configure(langfuse_enabled="yes")
    with pytest.raises(ConfigurationError, match="must be a string"):
        configure(redis_url=6379)


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-123456")
    monkeypatch.setenv("AGENT_RUNTIME_MODEL_PROVIDER", "litellm")
    monkeypatch.setenv("AGENT_RUNTIME_LANGFUSE_ENABLED", "true")
    monkeypatch.setenv("AGENT_RUNTIME_STATE_STORE_BACKEND", "sqlite")
    monkeypatch.setenv("AGENT_RUNTIME_SQLITE_PATH", "/tmp/x.db")
    reset_config()
    config = get_config()
    assert config.openai_api_key == "sk-from-env-123456"
    assert config.anthropic_api_key == "sk-ant-from-env-123456"
    assert config.model_provider == "litellm"
    assert config.langfuse_enabled is True
    assert config.state_store_backend == "sqlite"
    assert config.sqlite_path == "/tmp/x.db"


def test_configure_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_DEFAULT_MODEL", "env-model")
    configure(default_model="explicit-model")
    assert get_config().default_model == "explicit-model"


def test_bad_environment_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_QUEUE_BACKEND", "rabbit")
    reset_config()
    with pytest.raises(ConfigurationError, match="queue_backend"):
        get_config()
    monkeypatch.setenv("AGENT_RUNTIME_QUEUE_BACKEND", "memory")
    monkeypatch.setenv("AGENT_RUNTIME_LANGFUSE_ENABLED", "maybe")
    with pytest.raises(ConfigurationError, match="AGENT_RUNTIME_LANGFUSE_ENABLED"):
        get_config()


def test_secrets_never_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    config = configure(
        openai_api_key="sk-secret-openai-key-1",
        anthropic_api_key="sk-ant-secret-key-2",
        langfuse_secret_key="sk-lf-secret-key-3",
        redis_url="redis://user:hunter2-password@localhost:6379/0",
    )
    for text in (repr(config), str(config), f"{config}", repr(get_config())):
        for secret in ("sk-secret-openai-key-1", "sk-ant-secret-key-2", "sk-lf-secret-key-3", "hunter2-password"):
            assert secret not in text
    assert "openai_api_key='***'" in repr(config)
    anonymous = configure(redis_url="redis://:requirepass-secret@localhost:6379/0")  # no user name
    assert "requirepass-secret" not in repr(anonymous)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config is %s", config)
    assert "sk-secret-openai-key-1" not in caplog.text


def test_config_is_immutable() -> None:
    config = get_config()
    with pytest.raises(AttributeError):
        config.model_provider = "anthropic"  # type: ignore[misc]


def test_with_settings_validates() -> None:
    config = RuntimeConfig().with_settings(default_model="m")
    assert config.default_model == "m"
    with pytest.raises(ConfigurationError):
        RuntimeConfig().with_settings(nope=1)


def test_the_environment_is_read_when_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_DEFAULT_MODEL", "first")
    first = get_config()
    assert first.default_model == "first"
    assert get_config() is first  # unchanged environment: the same object, no rebuild
    monkeypatch.setenv("AGENT_RUNTIME_DEFAULT_MODEL", "second")
    assert get_config().default_model == "second"
    monkeypatch.delenv("AGENT_RUNTIME_DEFAULT_MODEL")
    assert get_config().default_model == "gpt-4o"
    configure(default_model="configured")
    monkeypatch.setenv("AGENT_RUNTIME_DEFAULT_MODEL", "third")
    assert get_config().default_model == "configured"  # configure() still wins
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert get_config().redis_url == "redis://127.0.0.1:1/0"  # settings never configured follow it


def test_a_bad_environment_value_set_later_is_reported_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    get_config()
    monkeypatch.setenv("AGENT_RUNTIME_QUEUE_BACKEND", "kafka")
    with pytest.raises(ConfigurationError, match="'memory', 'redis'"):
        get_config()
    monkeypatch.setenv("AGENT_RUNTIME_QUEUE_BACKEND", "redis")
    assert get_config().queue_backend == "redis"


def test_a_secret_set_later_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    get_config()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-late-secret-0123456789")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-password@127.0.0.1:6379/0")
    config = get_config()
    assert config.openai_api_key == "sk-late-secret-0123456789"
    for text in (repr(config), str(config)):
        assert "sk-late-secret" not in text and "hunter2-password" not in text
