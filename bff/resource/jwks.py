"""Issuer signing keys by ``kid``, kept fresh without letting tokens decide how often we fetch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

from bff.resource.fetching import Clock, FetchFailed, Throttle
from bff.resource.settings import ASYMMETRIC_ALGORITHMS

log = logging.getLogger(__name__)


class UnknownKey(Exception):
    """No published signing key has this ``kid``, even after the refetch we were allowed."""


class KeysUnavailable(Exception):
    """We have never obtained the issuer's keys, so nothing can be validated."""


@dataclass(frozen=True)
class _KeySet:
    keys: Mapping[str, PyJWK]
    fetched_at: float


def signing_keys(document: object) -> dict[str, PyJWK]:
    """Public signing keys with a ``kid``; symmetric, encryption and unusable keys are dropped."""
    if not isinstance(document, dict):
        raise FetchFailed("the JWKS is not a JSON object")
    try:
        jwk_set = PyJWKSet.from_dict(document)
    except PyJWTError as exc:
        raise FetchFailed("the JWKS holds no usable key") from exc
    keys: dict[str, PyJWK] = {}
    for key in jwk_set:
        kid = key.key_id
        if (isinstance(kid, str) and kid and kid not in keys
                and key.public_key_use in ("sig", None)
                and key.algorithm_name in ASYMMETRIC_ALGORITHMS):
            keys[kid] = key
    if not keys:
        raise FetchFailed("the JWKS holds no public signing key with a kid")
    return keys


class JwksCache:
    """Keys are refetched when older than ``max_age`` or when a token names an unknown ``kid``.

    Every refetch, for whatever reason and whether it succeeds or not, passes one throttle: at most
    one per ``refetch_interval``. A rotation is therefore seen within that interval, while a flood
    of tokens with made-up kids costs the issuer one request per interval. When a refetch fails the
    keys we already have stay in use, so an issuer outage does not stop validation.
    """

    def __init__(self, load: Callable[[], object], *, max_age: float = 300.0,
                 refetch_interval: float = 5.0, clock: Clock = time.monotonic) -> None:
        self._load = load
        self._max_age = max_age
        self._clock = clock
        self._throttle = Throttle(refetch_interval, clock)
        self._lock = threading.Lock()
        self._current: _KeySet | None = None

    def key_for(self, kid: str) -> PyJWK:
        current = self._current
        if current is not None and self._is_fresh(current) and kid in current.keys:
            return current.keys[kid]
        with self._lock:
            current = self._current
            if current is None or not self._is_fresh(current) or kid not in current.keys:
                current = self._refresh() or current
            if current is None:
                raise KeysUnavailable("the issuer's signing keys could not be fetched")
            try:
                return current.keys[kid]
            except KeyError:
                raise UnknownKey("no signing key with this kid") from None

    def _is_fresh(self, key_set: _KeySet) -> bool:
        return self._clock() - key_set.fetched_at < self._max_age

    def _refresh(self) -> _KeySet | None:
        if not self._throttle.try_acquire():
            return None
        try:
            keys = signing_keys(self._load())
        except FetchFailed as exc:
            log.warning("fetching the issuer's signing keys failed: %s", exc)
            return None
        self._current = _KeySet(keys=keys, fetched_at=self._clock())
        return self._current
