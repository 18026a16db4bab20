"""Tokens for a microservice's outgoing calls: its own (client credentials) and a user's, handed
on (RFC 8693 token exchange).

Both are cached until shortly before they expire, and a burst of threads needing the same token
makes one request to the authorization server: the first fetches, the rest wait for it. Exchanged
tokens are cached per (incoming token, audience) by the incoming token's SHA-256, so the cache
holds no token a caller sent us, and it is bounded. With a DPoP key the client asks for tokens
bound to it (RFC 9449) and ``authorization_headers`` adds a fresh proof to each call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

import requests

from bff.resource.discovery import Discovery
from bff.resource.fetching import FetchFailed, http_json_fetcher
from bff.sansio.oidc_rules import basic_authorization
from bff.signing_keys import SigningKey, dpop_proof

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class ServiceTokenError(Exception):
    """The authorization server would not issue the token; ``error`` is its OAuth error code
    (``invalid_target``, ``invalid_grant``...) or ``unavailable``."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error


class ServiceClient:
    """A confidential client of one issuer, for one service. Thread-safe."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, *,
                 token_endpoint: str | None = None, session: requests.Session | None = None,
                 http_timeout: float = 5.0, margin: float = 30.0, max_cached: int = 10_000,
                 dpop_key: SigningKey | None = None) -> None:
        self._client_id = client_id
        self._authorization = basic_authorization(client_id, client_secret)
        self._session = session or requests.Session()
        self._timeout = http_timeout
        self._token_endpoint = token_endpoint
        self._discovery = Discovery(issuer, http_json_fetcher(self._session, http_timeout))
        self._margin = margin
        self._max_cached = max_cached
        self._cache: OrderedDict[tuple[str, ...], tuple[str, float]] = OrderedDict()
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self._dpop_key = dpop_key
        self._nonce: str | None = None

    def authorization_headers(self, token: str, method: str, url: str) -> dict[str, str]:
        """What a call with ``token`` carries: ``Bearer``, or ``DPoP`` and a proof for it."""
        if self._dpop_key is None:
            return {"Authorization": f"Bearer {token}"}
        return {"Authorization": f"DPoP {token}",
                "DPoP": dpop_proof(self._dpop_key, method, url, access_token=token)}

    def client_token(self, scope: str | None = None, resource: str | None = None) -> str:
        """The service's own token (client credentials), for ``resource`` alone when given."""
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        return self._cached(("client", scope or "", resource or ""), form)

    def on_behalf_of(self, incoming_token: str, audience: str, scope: str | None = None) -> str:
        """A token for ``audience`` naming the same user as ``incoming_token`` (which must have
        been issued for this service) and this service as the actor."""
        digest = hashlib.sha256(incoming_token.encode()).hexdigest()
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": incoming_token,
                "subject_token_type": ACCESS_TOKEN_TYPE, "audience": audience, "scope": scope}
        return self._cached(("exchange", digest, audience, scope or ""), form)

    def _cached(self, key: tuple[str, ...], form: dict[str, str | None]) -> str:
        held = self._fresh(key)
        if held is not None:
            return held
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            held = self._fresh(key)
            if held is None:
                token, expires_in = self._request({k: v for k, v in form.items() if v})
                held = token
                with self._guard:
                    self._cache[key] = (token, time.monotonic() + expires_in)
                    self._cache.move_to_end(key)
                    while len(self._cache) > self._max_cached:
                        evicted, _ = self._cache.popitem(last=False)
                        self._locks.pop(evicted, None)
        return held

    def _fresh(self, key: tuple[str, ...]) -> str | None:
        with self._guard:
            entry = self._cache.get(key)
        if entry is None or entry[1] - self._margin <= time.monotonic():
            return None
        return entry[0]

    def _request(self, form: dict[str, str]) -> tuple[str, float]:
        try:
            endpoint = self._token_endpoint or self._discovery.metadata().token_endpoint
        except FetchFailed as exc:
            raise ServiceTokenError("unavailable", str(exc)) from exc
        if endpoint is None:
            raise ServiceTokenError("unavailable", "the issuer publishes no token_endpoint")
        for attempt in (1, 2):
            headers = {"Authorization": self._authorization, "Accept": "application/json"}
            if self._dpop_key is not None:
                headers["DPoP"] = dpop_proof(self._dpop_key, "POST", endpoint,
                                             nonce=self._nonce)
            try:
                response = self._session.post(endpoint, data=form, timeout=self._timeout,
                                              headers=headers)
                body: Any = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise ServiceTokenError("unavailable", type(exc).__name__) from exc
            self._nonce = response.headers.get("DPoP-Nonce") or self._nonce
            if attempt == 1 and isinstance(body, dict) and body.get("error") == "use_dpop_nonce":
                continue  # RFC 9449 section 8: once more, with the server's nonce
            break
        if response.status_code != 200 or not isinstance(body, dict) or \
                not isinstance(body.get("access_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            raise ServiceTokenError(str(error or f"http_{response.status_code}"),
                                    str(body.get("error_description", "")
                                        if isinstance(body, dict) else ""))
        if self._dpop_key is not None and str(body.get("token_type", "")).lower() != "dpop":
            raise ServiceTokenError("unbound_token", "the provider did not bind the token to "
                                    "this service's DPoP key")
        return body["access_token"], float(body.get("expires_in", 60))
