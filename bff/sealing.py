"""AES-256-GCM envelopes for tokens at rest, so a Redis dump alone yields nothing usable.

An envelope is ``<kid>.<base64url(nonce || ciphertext)>``. The associated data binds it to one
session and one purpose: an envelope copied into another session, or read as another field,
fails to decrypt. The first key seals; every configured key opens (rotation without logouts).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bff.settings import SecretKey

NONCE_BYTES = 12


class SealError(ValueError):
    """The envelope was made by an unknown key, altered, or belongs to another session."""


class Sealer:
    """AES-256-GCM with every configured key: the first seals, all open, so keys rotate without
    logging anyone out; the context (session handle and purpose) is the associated data."""

    def __init__(self, keys: tuple[SecretKey, ...]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._current = keys[0]
        self._ciphers = {k.kid: AESGCM(k.key) for k in keys}

    @property
    def current_kid(self) -> str:
        return self._current.kid

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current.kid].encrypt(nonce, plaintext, context.encode())
        return f"{self._current.kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, envelope: str, context: str) -> bytes:
        kid, _, body = envelope.partition(".")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealError(f"no configured key has id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(body)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealError("envelope does not open in this context") from exc

    def is_current(self, envelope: str) -> bool:
        return envelope.startswith(self._current.kid + ".")
