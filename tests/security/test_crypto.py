"""Secrets at rest: AES-GCM sealing, rotation, and refusal of tampered or foreign data."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from app.security.crypto import (
    EncryptionKeyMissing,
    Sealed,
    SecretBox,
    SecretDecryptionError,
    mask_secret,
)


def key(key_id: str, fill: bytes) -> SecretStr:
    return SecretStr(f"{key_id}:" + base64.urlsafe_b64encode(fill * 32).decode())


OLD, NEW = key("old", b"o"), key("new", b"n")


@given(st.text(max_size=300))
def test_seal_then_open_round_trips_any_text(plaintext: str) -> None:
    box = SecretBox([OLD])
    sealed = box.seal(plaintext, context="connection:1")
    if len(plaintext.encode()) >= 8:  # shorter byte strings can occur in noise by chance
        assert plaintext.encode() not in sealed.ciphertext
    assert box.open(sealed, context="connection:1") == plaintext


def test_same_plaintext_seals_differently_each_time() -> None:
    box = SecretBox([OLD])
    assert box.seal("token", context="c").ciphertext != box.seal("token", context="c").ciphertext


def test_rotation_old_ciphertext_opens_until_resealed_then_old_key_can_go() -> None:
    sealed_with_old = SecretBox([OLD]).seal("directo-token", context="connection:7")
    rotating = SecretBox([NEW, OLD])
    assert rotating.open(sealed_with_old, context="connection:7") == "directo-token"
    assert rotating.needs_reseal(sealed_with_old)

    resealed = rotating.reseal(sealed_with_old, context="connection:7")
    assert resealed.key_id == "new"
    assert not rotating.needs_reseal(resealed)
    assert SecretBox([NEW]).open(resealed, context="connection:7") == "directo-token"
    with pytest.raises(EncryptionKeyMissing, match="encryption key 'old'") as missing:
        SecretBox([NEW]).open(sealed_with_old, context="connection:7")
    assert (missing.value.code, missing.value.key_id) == ("encryption_key_missing", "old")
    assert "directo-token" not in str(missing.value)
    assert SecretBox([NEW, OLD]).key_ids == {"new", "old"}


def test_ciphertext_moved_to_another_row_or_tampered_does_not_open() -> None:
    box = SecretBox([OLD])
    sealed = box.seal("directo-token", context="connection:1")
    with pytest.raises(SecretDecryptionError, match="failed authentication"):
        box.open(sealed, context="connection:2")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(SecretDecryptionError):
        box.open(Sealed(ciphertext=flipped, key_id="old"), context="connection:1")


@pytest.mark.parametrize(("secret", "hint"), [("abcdef123456", "3456"), ("abcd", ""), ("", "")])
def test_mask_shows_at_most_the_last_four_characters(secret: str, hint: str) -> None:
    assert mask_secret(secret) == hint
