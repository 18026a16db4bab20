"""Signing keys: created once, persisted as private JWK files, shared by every instance, rotated.

Each key is one file ``<kid>.json`` (mode 0600) in ``key_dir``:
``{"created_at", "activates_at", "jwk"}``. A rotated-in key is published ``key_publish_ahead``
seconds before it signs anything, so a relying party that fetched the JWKS within its cache or
cool-down (jose: 30 s) already knows it; the newest active key signs (the first key is active at
once). An older key stays published until everything it could have signed has expired (its
successor's activation plus the longest signed-token lifetime), then ``rotate_keys`` deletes it.
Creation and rotation hold an exclusive ``flock`` on ``key_dir/.lock``,
so processes started together agree on a single key; files appear by atomic rename, so readers
never see half a key. Every process re-reads the directory when its mtime changes, which is how a
``bff authserver rotate-keys`` run reaches servers that are already running.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

from bff.authserver.settings import AuthServerSettings

RETIREMENT_LEEWAY = 60
RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class StoredKey:
    """One key file, imported once: loading an RSA private key validates it, which costs tens
    of milliseconds, far too much to pay per signature or per JWKS request."""

    kid: str
    alg: str
    created_at: int
    activates_at: int
    private_jwk: dict[str, Any] = field(repr=False, compare=False)
    private_key: RSAKey | ECKey = field(repr=False, compare=False, init=False)
    public_jwk: dict[str, Any] = field(repr=False, compare=False, init=False)

    def __post_init__(self) -> None:
        key = _import(self.private_jwk)
        object.__setattr__(self, "private_key", key)
        object.__setattr__(self, "public_jwk", {
            **key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"})


class KeyStore:
    """The key directory as seen by one process, re-read whenever the directory changes."""

    def __init__(self, settings: AuthServerSettings) -> None:
        self._settings = settings
        self._dir = Path(settings.key_dir)
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._keys: tuple[StoredKey, ...] = ()

    def ensure_signing_key(self) -> StoredKey:
        """Make sure a key of the configured algorithm signs, creating it once across processes."""
        current = self._current_keys()
        if current and current[-1].alg == self._settings.signing_alg:
            return current[-1]
        with _directory_lock(self._dir):
            keys = _read_keys(self._dir)
            if not keys or keys[-1].alg != self._settings.signing_alg:
                _write_key(self._dir, _generate(self._settings.signing_alg), ahead=0)
        return self.signing_key()

    def signing_key(self, now: float | None = None) -> StoredKey:
        keys = self._current_keys()
        if not keys:
            raise RuntimeError(f"no signing key in {self._dir}")
        return keys[_signing_index(keys, time.time() if now is None else now)]


    def published(self, now: float | None = None) -> tuple[StoredKey, ...]:
        return published_keys(self._current_keys(), self._settings, now)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk for key in reversed(self.published())]}

    def public_key_set(self) -> KeySet:
        return KeySet([key.private_key for key in self.published()])

    def algorithms(self) -> list[str]:
        return sorted({key.alg for key in self.published()} | {self._settings.signing_alg})

    def _current_keys(self) -> tuple[StoredKey, ...]:
        try:
            stamp = self._dir.stat().st_mtime_ns
        except FileNotFoundError:
            return ()
        with self._lock:
            if stamp != self._stamp:
                self._keys = _read_keys(self._dir)
                self._stamp = stamp
            return self._keys


def _signing_index(keys: tuple[StoredKey, ...], now: float) -> int:
    """The newest key already active; the oldest when none is (it is the first key)."""
    active = [index for index, key in enumerate(keys) if key.activates_at <= now]
    return active[-1] if active else 0


def published_keys(keys: tuple[StoredKey, ...], settings: AuthServerSettings,
                   now: float | None = None) -> tuple[StoredKey, ...]:
    """Keys waiting to sign, the signing key, and every older key whose signatures may still
    be unexpired."""
    now = time.time() if now is None else now
    keep = settings.max_signed_token_lifetime + RETIREMENT_LEEWAY
    signing = _signing_index(keys, now) if keys else 0
    return tuple(key for index, key in enumerate(keys)
                 if index >= signing or keys[index + 1].activates_at + keep > now)


def rotate_keys(settings: AuthServerSettings) -> str:
    """Create a new signing key, delete retired ones, and return the new `kid`."""
    directory = Path(settings.key_dir)
    with _directory_lock(directory):
        keys = _read_keys(directory)
        new_key = _write_key(directory, _generate(settings.signing_alg),
                             ahead=settings.key_publish_ahead)
        keys = (*keys, new_key)
        kept = {key.kid for key in published_keys(keys, settings)}
        for key in keys:
            if key.kid not in kept:
                (directory / f"{key.kid}.json").unlink(missing_ok=True)
    return new_key.kid


def _generate(alg: str) -> StoredKey:
    parameters = {"alg": alg, "use": "sig"}
    if alg == "ES256":
        key: RSAKey | ECKey = ECKey.generate_key("P-256", parameters, auto_kid=True)
    else:
        key = RSAKey.generate_key(RSA_KEY_BITS, parameters, auto_kid=True)
    jwk = key.as_dict(private=True)
    now = int(time.time())
    return StoredKey(kid=jwk["kid"], alg=alg, created_at=now, activates_at=now, private_jwk=jwk)


def _import(jwk: dict[str, Any]) -> RSAKey | ECKey:
    if jwk["kty"] == "EC":
        return ECKey.import_key(jwk)
    return RSAKey.import_key(jwk)


def _read_keys(directory: Path) -> tuple[StoredKey, ...]:
    keys = []
    for path in directory.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue  # retired by another process while we listed
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"unreadable signing key file {path}: {exc}") from None
        jwk = data["jwk"]
        created_at = int(data["created_at"])
        keys.append(StoredKey(kid=jwk["kid"], alg=jwk["alg"], created_at=created_at,
                              activates_at=int(data.get("activates_at", created_at)),
                              private_jwk=jwk))
    keys.sort(key=lambda k: (k.created_at, k.kid))
    return tuple(keys)


def _write_key(directory: Path, key: StoredKey, ahead: int) -> StoredKey:
    """Persist `key`, created strictly after every existing key (that order decides which
    active key is newest), signing ``ahead`` seconds from now."""
    created_at = max([key.created_at, *(k.created_at + 1 for k in _read_keys(directory))])
    activates_at = int(time.time()) + ahead
    payload = json.dumps({"created_at": created_at, "activates_at": activates_at,
                          "jwk": key.private_jwk}).encode("utf-8")
    temporary = directory / f".{key.kid}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, directory / f"{key.kid}.json")
    return StoredKey(kid=key.kid, alg=key.alg, created_at=created_at, activates_at=activates_at,
                     private_jwk=key.private_jwk)


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
