"""Settings: environment parsing, list formats, and refusals that prevent unsafe starts."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from app.config import DEV_API_KEY, Settings

GOOD_KEY = "k2:" + base64.urlsafe_b64encode(b"0" * 32).decode()


def test_defaults_start_a_local_service() -> None:
    settings = Settings()
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert [key.get_secret_value() for key in settings.api.keys] == [DEV_API_KEY]
    assert settings.webhooks.allow_private_targets is False
    assert settings.directo.retry_base_delay == 60.0


def test_environment_with_nested_groups_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_API__KEYS", "new-key, old-key")
    monkeypatch.setenv("GATEWAY_ENCRYPTION__KEYS", f'["{GOOD_KEY}"]')
    monkeypatch.setenv("GATEWAY_DIRECTO__READ_TIMEOUT", "42")
    monkeypatch.setenv("GATEWAY_LOG__FORMAT", "console")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.api.keys] == ["new-key", "old-key"]
    assert [key.get_secret_value() for key in settings.encryption.keys] == [GOOD_KEY]
    assert settings.directo.read_timeout == 42
    assert settings.log.format == "console"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no-separator", "key_id:base64"),
        ("k1:not-base64!!", "not valid base64"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        (f"{GOOD_KEY},{GOOD_KEY}", "appears twice"),
    ],
)
def test_malformed_encryption_keys_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("GATEWAY_ENCRYPTION__KEYS", value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="development API key"):
        Settings()
    monkeypatch.setenv("GATEWAY_API__KEYS", "a-real-key")
    with pytest.raises(ValidationError, match="development encryption key"):
        Settings()
    monkeypatch.setenv("GATEWAY_ENCRYPTION__KEYS", GOOD_KEY)
    assert Settings().environment == "production"
