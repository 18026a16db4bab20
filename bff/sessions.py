"""The session cookie and the Redis session store; tokens inside are sealed at rest.

The cookie holds a 256-bit random id. Redis never sees that id: keys use its SHA-256 (the
*handle*), so a Redis dump cannot be replayed as a cookie either. A record is one JSON value
carrying a version; every update is compare-and-set on that version, so a slow request can never
write an older refresh token over a newer one. Expiry is left to Redis TTLs: idle timeout slides
with ``GETEX`` on read (no record write), bounded by the absolute lifetime.

Per-session keys share the hash tag ``{<handle>}`` (record, refresh lock, grace record), so they
live in one Redis Cluster slot; the ``sub``/``sid`` indexes are written with single-key commands
in a non-transactional pipeline, so no command ever spans two slots.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import zlib
from dataclasses import dataclass, replace
from typing import Any

import redis
from flask import Response

from bff import metrics, tracing
from bff.sansio.keyspace import (
    refresh_grace_key,
    session_handle,
    session_index_key,
    session_record_key,
)
from bff.sansio.refresh import ResourceToken, TokenSet
from bff.sealing import Sealer, SealError
from bff.settings import Settings
from bff.store import store_errors

log = logging.getLogger(__name__)

SESSION_ID_BYTES = 32
GRACE_SECONDS = 60

# KEYS[1] record; ARGV: expected version, new value, ttl ms. 1 written, 0 conflict, -1 gone.
_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if tonumber(cjson.decode(current)['v']) ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Session:
    """A decoded session record; ``handle`` is the hash of the cookie value."""

    handle: str
    version: int
    sub: str
    sid: str | None
    claims: dict[str, Any]
    created_at: float
    expires_at: float
    tokens: TokenSet
    sealed_with_current_key: bool
    idle_expires_at: float
    device: str = ""

    @property
    def session_expires_at(self) -> float:
        """When the session ends if nothing else happens: idle or absolute, whichever first."""
        return min(self.expires_at, self.idle_expires_at)


class SessionStore:
    """Sessions in Redis, one sealed record per session, keyed by the SHA-256 of the cookie value
    (a Redis dump holds no usable cookie). Guarantees: reads slide the idle timeout and read in
    one ``GETEX``; writes are compare-and-set on a version, so a stale writer never overwrites a
    rotated refresh token; records expire by themselves (idle and absolute); a sub/sid index
    finds a user's sessions without scanning the keyspace."""

    def __init__(self, client: redis.Redis, sealer: Sealer, settings: Settings) -> None:
        self._redis = client
        self._sealer = sealer
        self._idle_ms = settings.session_idle_timeout * 1000
        self._lifetime = settings.session_lifetime
        self._cas = client.register_script(_CAS_SCRIPT)
        self._wait_replicas = settings.redis_wait_replicas
        self._wait_timeout_ms = settings.redis_wait_timeout_ms

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    def create(self, tokens: TokenSet, sub: str, sid: str | None,
               claims: dict[str, Any], device: str = "") -> tuple[str, Session]:
        """A brand-new session under a fresh id: ids are never reused across logins."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = time.time()
        session = Session(
            handle=session_handle(session_id), version=1, sub=sub, sid=sid, claims=claims,
            created_at=now, expires_at=now + self._lifetime, tokens=tokens,
            sealed_with_current_key=True, idle_expires_at=now + self._idle_ms / 1000,
            device=device,
        )
        with store_errors():
            # Index first: a stale index entry is harmless, a session missing from it would
            # survive a back-channel logout.
            pipe = self._redis.pipeline(transaction=False)
            for kind, value in (("sub", sub), ("sid", sid)):
                if value:
                    pipe.sadd(session_index_key(kind, value), session.handle)
                    pipe.expire(session_index_key(kind, value), self._lifetime)
            key = session_record_key(session.handle)
            pipe.set(key, self._encode(session), px=self._ttl_ms(session),
                     nx=True)
            pipe.execute()
        return session_id, session

    def load(self, session_id: str, *, slide: bool = True) -> Session | None:
        """One round trip: read the record and, when sliding, push its idle expiry forward."""
        handle = session_handle(session_id)
        key = session_record_key(handle)
        with store_errors(), tracing.span("redis GETEX session", "client",
                                          **{"db.system": "redis"}):
            if slide:
                raw, ttl_ms = self._redis.getex(key, px=self._idle_ms), self._idle_ms
            else:
                pipe = self._redis.pipeline(transaction=False)
                raw, ttl_ms = pipe.get(key).pttl(key).execute()
            if raw is None:
                return None
            session = self._decode(handle, raw, time.time() + max(ttl_ms, 0) / 1000)
            if session is None:
                return None
            remaining = session.expires_at - time.time()
            if remaining <= 0:
                self.delete(handle)
                return None
            if slide and remaining * 1000 < self._idle_ms:
                self._redis.pexpireat(key, int(session.expires_at * 1000))
        return session

    def load_handle(self, handle: str) -> Session | None:
        with store_errors():
            pipe = self._redis.pipeline(transaction=False)
            key = session_record_key(handle)
            raw, ttl_ms = pipe.get(key).pttl(key).execute()
        return None if raw is None else self._decode(handle, raw, time.time() + ttl_ms / 1000)

    def replace_tokens(self, session: Session, tokens: TokenSet) -> Session | None:
        """Compare-and-set: None when another writer got there first or the session is gone.

        The record is re-sealed with the current key, which is how old-key records migrate.
        With ``redis_wait_replicas`` set, the write is followed by ``WAIT`` on the same
        connection, so a failover right after a refresh cannot bring back the spent token.
        """
        updated = replace(session, version=session.version + 1, tokens=tokens,
                          sealed_with_current_key=True)
        key = session_record_key(session.handle)
        args = [session.version, self._encode(updated), self._ttl_ms(updated)]
        with store_errors(), tracing.span("redis CAS session", "client",
                                          **{"db.system": "redis"}):
            if not self._wait_replicas:
                written = self._cas(keys=[key], args=args)
            else:
                pipe = self._primary_for(key).pipeline(transaction=False)
                pipe.eval(_CAS_SCRIPT, 1, key, *args)
                pipe.wait(self._wait_replicas, self._wait_timeout_ms)
                written, acknowledged = pipe.execute()
                if written == 1 and acknowledged < self._wait_replicas:
                    metrics.REDIS_ERRORS.labels(kind="replica_ack_missing").inc()
                    log.warning("rotated tokens reached %d of %d replicas within %d ms",
                                acknowledged, self._wait_replicas, self._wait_timeout_ms)
        return updated if written == 1 else None

    def save_grace(self, handle: str, spent_refresh_token: str, tokens: TokenSet) -> None:
        """Remember, briefly, what ``spent_refresh_token`` was exchanged for.

        Written before the session record: if that write is lost (a crash, a lapsed lock, a
        conflicting writer), the next refresher finds the new tokens here instead of spending
        the old refresh token again, which a rotating provider would treat as reuse.
        """
        record = json.dumps({
            "from": hashlib.sha256(spent_refresh_token.encode()).hexdigest(),
            "tok": self._sealer.seal(_packed(_token_json(tokens)), f"{handle}:grace"),
        })
        with store_errors():
            self._redis.set(refresh_grace_key(handle), record, ex=GRACE_SECONDS)

    def grace_for(self, handle: str, refresh_token: str) -> TokenSet | None:
        """The tokens ``refresh_token`` was already exchanged for, within the grace period."""
        with store_errors():
            raw = self._redis.get(refresh_grace_key(handle))
        if raw is None:
            return None
        record = json.loads(raw)
        spent = hashlib.sha256(refresh_token.encode()).hexdigest()
        if not secrets.compare_digest(record["from"], spent):
            return None
        try:
            return _token_set(_unpacked(self._sealer.open(record["tok"], f"{handle}:grace")))
        except SealError:
            return None

    def _primary_for(self, key: str) -> redis.Redis:
        """The client of the primary holding ``key`` (a Redis Cluster node, or the client)."""
        get_node = getattr(self._redis, "get_node_from_key", None)
        if get_node is None:
            return self._redis
        return self._redis.get_redis_connection(get_node(key))  # type: ignore[attr-defined]

    def delete(self, handle: str) -> Session | None:
        """Remove a session and its index entries; returns what was deleted, if anything."""
        with store_errors():
            raw = self._redis.getdel(session_record_key(handle))
            session = None if raw is None else self._decode(handle, raw, time.time())
            if session is not None:
                pipe = self._redis.pipeline(transaction=False)
                for kind, value in (("sub", session.sub), ("sid", session.sid)):
                    if value:
                        pipe.srem(session_index_key(kind, value), handle)
                pipe.execute()
        return session

    def handles_for(self, *, sub: str | None = None, sid: str | None = None) -> set[str]:
        """Sessions to end for a back-channel logout naming a user, a provider session, or both."""
        handles: set[str] = set()
        with store_errors():
            for kind, value in (("sub", sub), ("sid", sid)):
                if value:
                    members = self._redis.smembers(session_index_key(kind, value))
                    handles |= {h.decode() for h in members}
        return handles

    def forget_stale(self, sub: str, handle: str) -> None:
        """Drop an index entry whose session has expired by itself: met while listing."""
        with store_errors():
            self._redis.srem(session_index_key("sub", sub), handle)

    def _ttl_ms(self, session: Session) -> int:
        remaining = int((session.expires_at - time.time()) * 1000)
        return max(1, min(self._idle_ms, remaining))

    def _encode(self, session: Session) -> bytes:
        t = session.tokens
        secret = json.dumps({"a": t.access_token, "r": t.refresh_token,
                             **_resources_json(t)}, separators=(",", ":"))
        return json.dumps({
            "v": session.version, "sub": session.sub, "sid": session.sid,
            "claims": session.claims, "created_at": session.created_at,
            "expires_at": session.expires_at, "at_exp": t.access_expires_at,
            "at_iat": t.access_issued_at, "scope": " ".join(t.scope),
            "tok": self._sealer.seal(_packed(secret), f"{session.handle}:tokens"),
            **({"dev": session.device} if session.device else {}),
            **({"jkt": t.dpop_jkt} if t.dpop_jkt else {}),
        }, separators=(",", ":")).encode()

    def _decode(self, handle: str, raw: bytes, idle_expires_at: float) -> Session | None:
        """None when the record does not open here; it is left alone, not deleted: an instance
        missing a key during a rolling key change must not log everybody out."""
        try:
            record = json.loads(raw)
            secret = _unpacked(self._sealer.open(record["tok"], f"{handle}:tokens"))
        except (SealError, ValueError, KeyError, TypeError, zlib.error):
            log.warning("session %s does not open with the configured keys", handle[:12])
            return None
        return Session(
            handle=handle, version=int(record["v"]), sub=record["sub"], sid=record.get("sid"),
            claims=record.get("claims", {}), created_at=record["created_at"],
            expires_at=record["expires_at"],
            tokens=TokenSet(
                access_token=secret["a"], refresh_token=secret.get("r"),
                access_expires_at=record["at_exp"],
                access_issued_at=record["at_iat"], scope=tuple(record["scope"].split()),
                resources=_resources(secret), dpop_jkt=record.get("jkt"),
            ),
            sealed_with_current_key=self._sealer.is_current(record["tok"]),
            idle_expires_at=idle_expires_at, device=str(record.get("dev", "")),
        )


def _packed(secret_json: str) -> bytes:
    """The tokens' JSON, deflated before sealing: a session holding resource tokens carries
    several JWTs from one issuer, which share most of their bytes (a session with two resource
    tokens takes 40% less). No compression oracle: one blob holds one session's tokens as the
    provider issued them, nothing a browser chose, and its length is visible only in Redis."""
    return zlib.compress(secret_json.encode(), 9)


def _unpacked(plaintext: bytes) -> dict[str, Any]:
    """Records sealed before compression (plain JSON, starting with ``{``) still open."""
    data = plaintext if plaintext[:1] == b"{" else zlib.decompress(plaintext)
    return json.loads(data)


def _resources_json(tokens: TokenSet) -> dict[str, Any]:
    """Resource tokens as ``{"x": {resource: [token, expires_at, issued_at]}}``, sealed with
    the rest (nothing at all when the session holds none: most records stay as they were)."""
    if not tokens.resources:
        return {}
    return {"x": {resource: [held.access_token, held.expires_at, held.issued_at]
                  for resource, held in tokens.resources.items()}}


def _resources(secret: dict[str, Any]) -> dict[str, ResourceToken]:
    return {resource: ResourceToken(str(token), float(exp), float(iat))
            for resource, (token, exp, iat) in secret.get("x", {}).items()}


def _token_json(tokens: TokenSet) -> str:
    return json.dumps({
        "a": tokens.access_token, "r": tokens.refresh_token,
        "exp": tokens.access_expires_at, "iat": tokens.access_issued_at,
        "scope": " ".join(tokens.scope), **_resources_json(tokens),
        **({"jkt": tokens.dpop_jkt} if tokens.dpop_jkt else {}),
    })


def _token_set(data: dict[str, Any]) -> TokenSet:
    return TokenSet(
        access_token=data["a"], refresh_token=data.get("r"),
        access_expires_at=float(data["exp"]), access_issued_at=float(data["iat"]),
        scope=tuple(str(data.get("scope", "")).split()), resources=_resources(data),
        dpop_jkt=data.get("jkt"),
    )


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    """A session cookie (no Max-Age): the server-side record decides how long it lives."""
    response.set_cookie(
        settings.cookie_name, session_id, path="/", secure=settings.is_https, httponly=True,
        samesite=settings.cookie_samesite,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.cookie_name, path="/", secure=settings.is_https, httponly=True,
        samesite=settings.cookie_samesite,
    )
