from __future__ import annotations

import base64

import pytest

from bff.sealing import Sealer, SealError
from bff.settings import decode_secret_key, generate_secret_key


def key() -> str:
    return generate_secret_key()


def test_sealed_value_opens_in_its_context_only() -> None:
    sealer = Sealer((decode_secret_key(key()),))
    envelope = sealer.seal(b"refresh-token", "session-a:tokens")
    assert sealer.open(envelope, "session-a:tokens") == b"refresh-token"
    with pytest.raises(SealError):
        sealer.open(envelope, "session-b:tokens")


def test_value_copied_into_another_purpose_does_not_open() -> None:
    sealer = Sealer((decode_secret_key(key()),))
    envelope = sealer.seal(b"x", "h:tokens")
    with pytest.raises(SealError):
        sealer.open(envelope, "h:login")


def test_tampered_envelope_is_refused() -> None:
    sealer = Sealer((decode_secret_key(key()),))
    envelope = sealer.seal(b"secret", "ctx")
    kid, _, body = envelope.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    for position in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        tampered = raw.copy()
        tampered[position] ^= 0x01
        with pytest.raises(SealError):
            sealer.open(f"{kid}.{base64.urlsafe_b64encode(bytes(tampered)).decode()}", "ctx")


def test_rotation_old_key_still_opens_new_key_seals() -> None:
    old, new = decode_secret_key(key()), decode_secret_key(key())
    sealed_before = Sealer((old,)).seal(b"token", "ctx")
    rotated = Sealer((new, old))
    assert rotated.open(sealed_before, "ctx") == b"token"
    assert not rotated.is_current(sealed_before)
    assert rotated.is_current(rotated.seal(b"token", "ctx"))


def test_envelope_from_an_unknown_key_is_refused() -> None:
    envelope = Sealer((decode_secret_key(key()),)).seal(b"t", "ctx")
    with pytest.raises(SealError):
        Sealer((decode_secret_key(key()),)).open(envelope, "ctx")


def test_ciphertext_holds_no_plaintext() -> None:
    sealer = Sealer((decode_secret_key(key()),))
    assert "eyJhbGciOi" not in sealer.seal(b"eyJhbGciOiJSUzI1NiJ9.payload.sig", "ctx")
