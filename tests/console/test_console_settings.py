"""Operations keys in the settings: long enough, apart from the API keys, never the
development key in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEV_OPS_KEY, Settings


def test_operations_keys_are_a_list_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_OPS__KEYS", "first-operations-key,second-operations-key")
    keys = [key.get_secret_value() for key in Settings().ops.keys]
    assert keys == ["first-operations-key", "second-operations-key"]
    monkeypatch.delenv("GATEWAY_OPS__KEYS")
    assert Settings().ops.keys == []  # the console is off by default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ops": {"keys": ["short"]}}, "at least 16 characters"),
        (
            {"api": {"keys": ["same-value-for-both"]}, "ops": {"keys": ["same-value-for-both"]}},
            "must differ from every API key",
        ),
        (
            {
                "environment": "production",
                "api": {"keys": ["a-production-api-key"]},
                "encryption": {"keys": ["k1:" + "A" * 43 + "="]},
                "ops": {"keys": [DEV_OPS_KEY]},
            },
            "development operations key",
        ),
    ],
)
def test_bad_operations_keys_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate(values)
