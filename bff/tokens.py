"""A valid access token for a session, refreshed ahead of expiry, single-flight everywhere.

Refresh is serialised per session by a Redis lock whose lease is renewed while the provider call
is in flight, so it works across threads, processes and instances. Whoever waits re-reads the
session after the lock and uses the token the winner stored; nobody refreshes with what they read
before. The winner records what it spent in a short grace record before it writes the session,
so a refresher that lost the race (a lapsed lease, a lost write) picks up the new tokens instead of
spending a rotated refresh token again. Only ``invalid_grant`` ends a session; transient provider
failures are retried and, while the old access token still works, do not even fail the request.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import replace

import redis

from bff import metrics, tracing
from bff.errors import LoginRequired, ProviderUnavailable, TokenUnavailable
from bff.oidc import OidcClient, RefreshRejected
from bff.sansio.keyspace import client_token_key, refresh_lock_key
from bff.sansio.oidc_rules import session_claims
from bff.sansio.refresh import (
    Credential,
    TokenResponse,
    TokenSet,
    is_refresh_due,
    token_set,
    with_resource_token,
)
from bff.sealing import Sealer
from bff.sessions import Session, SessionStore
from bff.settings import Settings
from bff.store import store_errors

LOCK_LEASE_MS = 5000
LOCK_WAIT_SECONDS = 20.0
LOCK_POLL_SECONDS = 0.02
PROVIDER_ATTEMPTS = 3
PROVIDER_BACKOFF_SECONDS = 0.25
WRITE_ATTEMPTS = 5
CLIENT_TOKEN_MARGIN = 30

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLock:
    """``SET NX PX`` with a lease renewed by a background thread while held."""

    def __init__(self, client: redis.Redis, key: str, lease_ms: int = LOCK_LEASE_MS) -> None:
        self._redis = client
        self._key = key
        self._lease_ms = lease_ms
        self._token = secrets.token_hex(16)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self._redis.set(self._key, self._token, nx=True, px=self._lease_ms):
            return False
        self._renewer = threading.Thread(target=self._renew, daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self._lease_ms / 3000):
            try:
                self._redis.eval(_RENEW, 1, self._key, self._token, self._lease_ms)
            except redis.RedisError:
                return

    def release(self) -> None:
        self._stop.set()
        try:
            self._redis.eval(_RELEASE, 1, self._key, self._token)
        except redis.RedisError:
            pass  # the lease expires by itself

    def wait_until_free(self, deadline: float) -> None:
        while time.monotonic() < deadline and self._redis.exists(self._key):
            time.sleep(LOCK_POLL_SECONDS)


class TokenManager:
    """A valid access token for a session, and the BFF's own client-credentials token. The hot
    path does no I/O; a due token is refreshed once per session across threads, processes and
    instances (a Redis lock with a renewed lease; waiters re-read the record afterwards), a
    rotated refresh token is never lost (grace record, compare-and-set), and only
    ``invalid_grant`` ends a session."""

    def __init__(self, store: SessionStore, oidc: OidcClient, settings: Settings,
                 sealer: Sealer) -> None:
        self._store = store
        self._oidc = oidc
        self._skew = settings.refresh_skew
        self._client_id = settings.client_id
        self._user_claims = frozenset(settings.user_claims)
        self._sealer = sealer
        self._client_tokens: dict[str, tuple[Credential, float]] = {}
        self._client_lock = threading.Lock()

    def access_token(self, session: Session,
                     resource: str | None = None) -> tuple[Session, str]:
        """The session's access token, or its token for ``resource`` (RFC 8707), refreshed
        first when it is due or not yet held (the usual: no I/O)."""
        held = session.tokens.access_token_for(resource)
        if held is not None and not is_refresh_due(session.tokens, time.time(), self._skew,
                                                   resource):
            return session, held
        return self._refresh_single_flight(session, None, resource)

    def refresh_after_rejection(self, session: Session, rejected_token: str,
                                resource: str | None = None) -> tuple[Session, str]:
        """The upstream said ``invalid_token``: refresh unless someone already replaced it."""
        return self._refresh_single_flight(session, rejected_token, resource)

    def _still_needs_refresh(self, current: Session, rejected_token: str | None,
                             resource: str | None) -> bool:
        held = current.tokens.access_token_for(resource)
        if rejected_token is not None and held is not None:
            return held == rejected_token
        return is_refresh_due(current.tokens, time.time(), self._skew, resource)

    def _refresh_single_flight(self, session: Session, rejected_token: str | None,
                               resource: str | None) -> tuple[Session, str]:
        """One lock per session serves its own token and every resource token: they all spend
        the same (rotating) refresh token, so only one grant may be in flight at a time."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        with store_errors():
            while True:
                lock = RedisLock(self._store.redis, refresh_lock_key(session.handle))
                if lock.acquire():
                    try:
                        current, token = self._refresh_locked(session.handle, rejected_token,
                                                              resource)
                    finally:
                        lock.release()
                    if token is not None:
                        return current, token
                    # We completed someone else's refresh of another token: now ours.
                    session, rejected_token = current, None
                    if time.monotonic() < deadline:
                        continue
                else:
                    with metrics.LOCK_WAIT_SECONDS.time(), tracing.span("refresh lock wait"):
                        lock.wait_until_free(deadline)
                    current = self._store.load_handle(session.handle)
                    if current is None:
                        raise LoginRequired("Your session has ended; please log in again.")
                    held = current.tokens.access_token_for(resource)
                    if held is not None and not self._still_needs_refresh(
                            current, rejected_token, resource):
                        return current, held
                if time.monotonic() >= deadline:
                    metrics.LOCK_TIMEOUTS.inc()
                    raise ProviderUnavailable("Renewing your session took too long; please retry.")

    def _refresh_locked(self, handle: str, rejected_token: str | None,
                        resource: str | None) -> tuple[Session, str | None]:
        """The session after the refresh and the token asked for; None for the token when
        what got stored was another token's refresh (a grace record or a lost race)."""
        current = self._store.load_handle(handle)
        if current is None:
            raise LoginRequired("Your session has ended; please log in again.")
        if not self._still_needs_refresh(current, rejected_token, resource):
            return current, current.tokens.access_token_for(resource)
        spent = current.tokens.refresh_token
        if not spent:
            if resource is not None:
                raise TokenUnavailable(f"A token for {resource} needs a refresh token, and this "
                                       "session has none (ask for offline_access).")
            self._store.delete(handle)
            raise LoginRequired("Your session has expired; please log in again.")
        tokens = self._store.grace_for(handle, spent)
        if tokens is not None:
            return self._unless_due(self._store_rotated(current, spent, tokens), resource)
        try:
            response = self._refresh_with_retry(spent, current.sub, resource,
                                                current.tokens.dpop_jkt)
        except RefreshRejected as exc:
            return self._unless_due(self._after_rejection(current, spent, exc), resource)
        except ProviderUnavailable:
            if (rejected_token is None and resource is None
                    and current.tokens.access_expires_at > time.time()):
                return current, current.tokens.access_token
            raise
        now = time.time()
        tokens = (token_set(response, current.tokens, now) if resource is None
                  else with_resource_token(response, current.tokens, resource, now))
        self._store.save_grace(handle, spent, tokens)
        if response.id_claims is not None:
            current = replace(current, claims=session_claims(response.id_claims,
                                                             self._user_claims))
        stored = self._store_rotated(current, spent, tokens)
        return stored, stored.tokens.access_token_for(resource)

    def _unless_due(self, session: Session, resource: str | None) -> tuple[Session, str | None]:
        """A session someone else's refresh produced: its token for us, if that is usable."""
        if self._still_needs_refresh(session, None, resource):
            return session, None
        return session, session.tokens.access_token_for(resource)

    def _after_rejection(self, current: Session, spent: str,
                         exc: RefreshRejected) -> Session:
        """``invalid_grant``: a lost race if someone already rotated ``spent``, else the end."""
        latest = self._store.load_handle(current.handle)
        if latest is not None and latest.tokens.refresh_token != spent:
            return latest
        tokens = self._store.grace_for(current.handle, spent)
        if latest is None or tokens is None:
            self._store.delete(current.handle)
            raise LoginRequired("Your session has ended; please log in again.") from exc
        return self._store_rotated(latest, spent, tokens)

    def _store_rotated(self, current: Session, spent: str, tokens: TokenSet) -> Session:
        """Compare-and-set; after a conflict, yield to a newer record that already moved past
        ``spent``, otherwise write the successor over whatever changed meanwhile."""
        for _ in range(WRITE_ATTEMPTS):
            updated = self._store.replace_tokens(current, tokens)
            if updated is not None:
                return updated
            latest = self._store.load_handle(current.handle)
            if latest is None:
                raise LoginRequired("Your session has ended; please log in again.")
            if latest.tokens.refresh_token != spent:
                return latest
            current = latest
        raise ProviderUnavailable("Your session is being updated elsewhere; please retry.")

    def _refresh_with_retry(self, refresh_token: str, sub: str, resource: str | None,
                            dpop_jkt: str | None) -> TokenResponse:
        for attempt in range(PROVIDER_ATTEMPTS):
            try:
                response = self._oidc.refresh(refresh_token, sub, resource, dpop_jkt)
            except RefreshRejected:
                metrics.REFRESHES.labels(outcome="rejected").inc()
                raise
            except TokenUnavailable:
                metrics.REFRESHES.labels(outcome="target_refused").inc()
                raise
            except ProviderUnavailable:
                metrics.REFRESHES.labels(outcome="provider_unavailable").inc()
                if attempt == PROVIDER_ATTEMPTS - 1:
                    raise
                time.sleep(PROVIDER_BACKOFF_SECONDS * 2**attempt)
            else:
                metrics.REFRESHES.labels(outcome="refreshed").inc()
                return response
        raise AssertionError("unreachable")


    def client_token(self, resource: str | None = None) -> Credential:
        """A client-credentials token (for ``resource`` alone when given) shared by all
        processes, fetched once per expiry."""
        now = time.time()
        key = client_token_key(self._client_id, resource)
        cached = self._client_tokens.get(key)
        if cached and cached[1] - CLIENT_TOKEN_MARGIN > now:
            return cached[0]
        with self._client_lock, store_errors():
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                stored = self._read_client_token(key)
                if stored is not None:
                    self._client_tokens[key] = stored
                    return stored[0]
                lock = RedisLock(self._store.redis, f"{key}:lock")
                if lock.acquire():
                    try:
                        stored = (self._read_client_token(key)
                                  or self._fetch_client_token(key, resource))
                    finally:
                        lock.release()
                    self._client_tokens[key] = stored
                    return stored[0]
                lock.wait_until_free(deadline)
                if time.monotonic() >= deadline:
                    raise ProviderUnavailable("The service token could not be obtained in time.")

    def _read_client_token(self, key: str) -> tuple[Credential, float] | None:
        raw = self._store.redis.get(key)
        if raw is None:
            return None
        record = json.loads(raw)
        if record["exp"] - CLIENT_TOKEN_MARGIN <= time.time():
            return None
        token = self._sealer.open(record["tok"], key).decode()
        return Credential(token, record.get("jkt")), float(record["exp"])

    def _fetch_client_token(self, key: str, resource: str | None) -> tuple[Credential, float]:
        response = self._oidc.client_credentials(resource)
        expires_at = time.time() + response.expires_in
        record = {"tok": self._sealer.seal(response.access_token.encode(), key), "exp": expires_at,
                  **({"jkt": response.dpop_jkt} if response.dpop_jkt else {})}
        ttl = max(1, response.expires_in - CLIENT_TOKEN_MARGIN)
        self._store.redis.set(key, json.dumps(record), ex=ttl)
        return Credential(response.access_token, response.dpop_jkt), expires_at

