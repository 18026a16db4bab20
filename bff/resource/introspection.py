"""RFC 7662 token introspection: asks the issuer whether a token is still active (not revoked)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import HTTPBasicAuth

from bff.resource.fetching import Clock, FetchFailed
from bff.resource.settings import IntrospectionSettings

log = logging.getLogger(__name__)

#: Sends one introspection request for a token and returns the JSON answer; raises FetchFailed.
IntrospectionCall = Callable[[str], Mapping[str, Any]]


def http_introspection_call(session: requests.Session, endpoint: Callable[[], str],
                            settings: IntrospectionSettings) -> IntrospectionCall:
    """client_secret_basic, with id and secret form-urlencoded first as RFC 6749 §2.3.1 requires."""
    auth = HTTPBasicAuth(quote(settings.client_id, safe=""), quote(settings.client_secret, safe=""))

    def call(token: str) -> Mapping[str, Any]:
        url = endpoint()
        try:
            response = session.post(
                url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=auth,
                timeout=settings.timeout,
                allow_redirects=False,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            raise FetchFailed(f"introspection at {url} failed ({type(exc).__name__})") from exc
        if response.status_code in (401, 403):
            raise FetchFailed(f"introspection at {url} refused our client credentials")
        if response.status_code != 200:
            raise FetchFailed(f"introspection at {url} answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise FetchFailed(f"introspection at {url} did not return JSON") from exc
        if not isinstance(answer, dict):
            raise FetchFailed(f"introspection at {url} did not return a JSON object")
        return answer

    return call


class Introspector:
    """Remembers ``active: true`` for ``cache_ttl`` seconds; ``active: false`` is never cached.

    Entries are keyed by a SHA-256 of the token, so the cache holds no token, and the cache is
    bounded so a stream of distinct valid tokens cannot grow it without limit.
    """

    def __init__(self, call: IntrospectionCall, *, cache_ttl: float = 5.0, max_cached: int = 10_000,
                 clock: Clock = time.monotonic) -> None:
        self._call = call
        self._cache_ttl = cache_ttl
        self._max_cached = max_cached
        self._clock = clock
        self._lock = threading.Lock()
        self._active_until: dict[bytes, float] = {}

    def is_active(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            until = self._active_until.get(digest)
            if until is not None and self._clock() < until:
                return True
        active = self._call(token).get("active") is True
        if active and self._cache_ttl > 0:
            self._remember(digest)
        return active

    def _remember(self, digest: bytes) -> None:
        with self._lock:
            now = self._clock()
            if len(self._active_until) >= self._max_cached:
                self._active_until = {d: u for d, u in self._active_until.items() if u > now}
            while len(self._active_until) >= self._max_cached:
                del self._active_until[next(iter(self._active_until))]
            self._active_until[digest] = now + self._cache_ttl
