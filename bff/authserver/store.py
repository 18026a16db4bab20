"""Everything the authorization server remembers, in Redis, so instances can run side by side.

Keys (prefix ``bff:as:``; every secret value is stored only as its SHA-256):

- ``code:<h>``            authorization code record, TTL = code lifetime, consumed with GETDEL
- ``code-used:<h>``       tombstone of a consumed code -> its token family (replay revokes it)
- ``nonce:<client>:<h>``  nonces already used by a client
- ``rt:<h>``              refresh token record (``state`` active | rotated), TTL = its lifetime
- ``family:<id>``         one login's chain of refresh tokens (``revoked`` flag)
- ``family-jtis:<id>``    access-token jtis issued in a family (score = expiry)
- ``revoked-jti:<jti>``   a revoked access token, until it would have expired
- ``ps:<h>``              provider browser session (by hashed cookie value)
- ``sid:<sid>``           provider session by its public ``sid``; ``sid-clients:`` and
                          ``sid-families:`` list the clients and token families it issued to
- ``fail-user:<u>``, ``fail-addr:<a>``  failed login counters for throttling
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from bff.sansio.revocations import STREAM_KEY, Entry

PREFIX = "bff:as:"
#: How long a revocation-list entry is kept: longer than any access token lives.
REVOCATION_HORIZON = 24 * 3600
CODE_TOMBSTONE_TTL = 24 * 3600

_ROTATE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'active' then
  redis.call('HSET', KEYS[1], 'state', 'rotated')
  return 1
end
if state == false then return -1 end
return 0
"""

# EXPIRE's NX/GT flags need Redis 7; these keep the demo working on 6.2 engines too.
# Push a key's expiry out to ARGV[1] ms from now unless it already lives longer.
_EXTEND_EXPIRY = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl < tonumber(ARGV[1]) then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
"""
# Give a key an expiry only if it has none (a fixed window that later hits do not move).
_EXPIRE_IF_PERSISTENT = """
if redis.call('PTTL', KEYS[1]) == -1 then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
"""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class AuthorizationCode:
    """What a code stands for; implements Authlib's OIDC authorization-code protocol."""

    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    sid: str
    auth_time: int
    family_id: str
    code_challenge: str
    code_challenge_method: str
    nonce: str = ""
    resources: str = ""
    """The resource indicators the authorization covers (RFC 8707), space-separated."""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token; implements Authlib's token protocol."""

    token_hash: str
    family_id: str
    client_id: str
    sub: str
    scope: str
    sid: str
    auth_time: int
    issued_at: int
    expires_at: int
    state: str = "active"
    resources: str = ""
    """The resource indicators the grant covers (RFC 8707), space-separated."""
    dpop_jkt: str = ""
    """The DPoP key the token is bound to (RFC 9449 section 5): refreshing needs its proof."""

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_at - self.issued_at

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.state != "active"


@dataclass(frozen=True)
class ProviderSession:
    """The browser's login at the provider; `sid` is public, the cookie value never is."""

    session_hash: str
    csrf_token: str = field(repr=False)
    sub: str = ""
    sid: str = ""
    auth_time: int = 0

    @property
    def logged_in(self) -> bool:
        return bool(self.sub)


class AuthStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._rotate = client.register_script(_ROTATE)
        self._extend_expiry = client.register_script(_EXTEND_EXPIRY)
        self._expire_if_persistent = client.register_script(_EXPIRE_IF_PERSISTENT)

    # -- authorization codes ------------------------------------------------------------
    def save_code(self, code: str, record: AuthorizationCode, ttl: int) -> None:
        pipe = self.redis.pipeline()
        pipe.set(_k("code", digest(code)), json.dumps(asdict(record)), ex=ttl)
        if record.nonce:
            pipe.set(_k("nonce", record.client_id, digest(record.nonce)), "1", ex=3600)
        pipe.execute()

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        return bool(self.redis.exists(_k("nonce", client_id, digest(nonce))))

    def consume_code(self, code: str) -> tuple[AuthorizationCode | None, str | None]:
        """The code's record, deleted so it works once; or the family of a replayed code."""
        code_hash = digest(code)
        pipe = self.redis.pipeline()
        pipe.getdel(_k("code", code_hash))
        pipe.get(_k("code-used", code_hash))
        raw, tombstone = pipe.execute()
        if raw is None:
            return None, tombstone.decode() if tombstone else None
        record = AuthorizationCode(**json.loads(raw))
        self.redis.set(_k("code-used", code_hash), record.family_id, ex=CODE_TOMBSTONE_TTL)
        return record, None

    # -- refresh tokens and families ---------------------------------------------------
    def save_refresh_token(self, token: str, record: RefreshToken) -> None:
        ttl = max(1, record.expires_at - int(time.time()))
        values = {k: str(v) for k, v in asdict(record).items()}
        pipe = self.redis.pipeline()
        pipe.hset(_k("rt", digest(token)), mapping=values)
        pipe.expire(_k("rt", digest(token)), ttl)
        pipe.hset(_k("family", record.family_id), mapping={
            "client_id": record.client_id, "sub": record.sub, "sid": record.sid})
        pipe.expire(_k("family", record.family_id), ttl)
        if record.sid:
            pipe.sadd(_k("sid-families", record.sid), record.family_id)
            self._extend_expiry(keys=[_k("sid-families", record.sid)], args=[ttl * 1000],
                                client=pipe)
        pipe.execute()

    def refresh_token(self, token: str) -> RefreshToken | None:
        raw = self.redis.hgetall(_k("rt", digest(token)))
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        for name in ("auth_time", "issued_at", "expires_at"):
            data[name] = int(data[name])  # type: ignore[assignment]
        return RefreshToken(**data)  # type: ignore[arg-type]

    def rotate_refresh_token(self, token_hash: str) -> bool:
        """Mark a refresh token used, atomically: True only for the first caller."""
        return int(self._rotate(keys=[_k("rt", token_hash)])) == 1

    def revoke_refresh_token(self, token_hash: str) -> None:
        self.redis.hset(_k("rt", token_hash), "state", "revoked")

    def family_revoked(self, family_id: str) -> bool:
        return self.redis.hget(_k("family", family_id), "revoked") == b"1"

    def revoke_family(self, family_id: str, ttl: int) -> None:
        """End a token family: its refresh tokens stop working, its access tokens are revoked."""
        now = int(time.time())
        pipe = self.redis.pipeline()
        pipe.hset(_k("family", family_id), "revoked", "1")
        pipe.expire(_k("family", family_id), ttl)
        pipe.zrangebyscore(_k("family-jtis", family_id), now + 1, "+inf", withscores=True)
        _, _, live = pipe.execute()
        for jti, exp in live:
            self.revoke_jti(jti.decode(), int(exp))

    def record_access_token(self, family_id: str, jti: str, exp: int) -> None:
        now = int(time.time())
        pipe = self.redis.pipeline()
        pipe.zadd(_k("family-jtis", family_id), {jti: exp})
        pipe.zremrangebyscore(_k("family-jtis", family_id), "-inf", now)
        self._extend_expiry(keys=[_k("family-jtis", family_id)],
                            args=[max(1, exp + 1 - now) * 1000], client=pipe)
        pipe.execute()

    def revoke_jti(self, jti: str, exp: int) -> None:
        """Remembered for introspection, and published to the revocation list that offline
        validators follow (``bff.resource.revocations``)."""
        ttl = exp - int(time.time())
        if ttl > 0:
            pipe = self.redis.pipeline()
            pipe.set(_k("revoked-jti", jti), "1", ex=ttl + 1)
            self._publish(pipe, Entry("jti", jti, exp))
            pipe.execute()

    def revoke_user(self, sub: str, access_token_lifetime: int) -> None:
        """Every access token of ``sub`` issued until now is refused by offline validators
        that follow the revocation list, for as long as any of them can still be valid."""
        now = int(time.time())
        pipe = self.redis.pipeline()
        self._publish(pipe, Entry("sub", sub, now + access_token_lifetime, not_before=now))
        pipe.execute()

    def _publish(self, pipe: Any, entry: Entry) -> None:
        # Entries older than the longest-lived one are trimmed: nothing they name is valid.
        oldest_ms = int((time.time() - REVOCATION_HORIZON) * 1000)
        pipe.xadd(STREAM_KEY, entry.fields(), minid=oldest_ms, approximate=False)

    def first_use_of_proof(self, jkt: str, jti: str, ttl: int) -> bool:
        """A DPoP proof is accepted once (RFC 9449 section 11.1), for as long as it could pass."""
        return bool(self.redis.set(_k("dpop-jti", digest(f"{jkt}:{jti}")), "1", nx=True,
                                   ex=ttl))

    def save_pushed_request(self, request_uri: str, client_id: str,
                            pairs: list[tuple[str, str]], ttl: int) -> None:
        self.redis.set(_k("par", digest(request_uri)),
                       json.dumps({"client_id": client_id, "params": pairs}), ex=ttl)

    def pushed_request(self, request_uri: str) -> tuple[str, list[tuple[str, str]]] | None:
        raw = self.redis.get(_k("par", digest(request_uri)))
        if raw is None:
            return None
        record = json.loads(raw)
        return record["client_id"], [(str(k), str(v)) for k, v in record["params"]]

    def spend_pushed_request(self, request_uri: str) -> bool:
        """True for the one authorization that uses it (RFC 9126 section 7.3: single use)."""
        return bool(self.redis.delete(_k("par", digest(request_uri))))

    def first_use_of_assertion(self, client_id: str, jti: str, ttl: int) -> bool:
        """A client assertion (RFC 7523 section 3, point 7) is accepted once."""
        return bool(self.redis.set(_k("assertion-jti", digest(f"{client_id}:{jti}")), "1",
                                   nx=True, ex=ttl))

    def dpop_nonce_secret(self, candidate: bytes) -> bytes:
        """The secret every instance derives DPoP nonces from: the first one written wins."""
        key = _k("dpop-nonce-secret")
        self.redis.set(key, candidate, nx=True)
        return bytes(self.redis.get(key) or candidate)

    def jti_revoked(self, jti: str) -> bool:
        return bool(self.redis.exists(_k("revoked-jti", jti)))

    # -- provider sessions ------------------------------------------------------------
    def new_session(self, ttl: int, sub: str = "", auth_time: int = 0, sid: str = ""
                    ) -> tuple[str, ProviderSession]:
        """A fresh cookie value (always new: no fixation) and its record; a logged-in session
        gets a public `sid`, kept from the previous login when the same user logs in again."""
        cookie_value = new_secret()
        if sub and not sid:
            sid = new_secret(16)
        session = ProviderSession(session_hash=digest(cookie_value), csrf_token=new_secret(),
                                  sub=sub, sid=sid, auth_time=auth_time)
        pipe = self.redis.pipeline()
        pipe.hset(_k("ps", session.session_hash), mapping={
            k: str(v) for k, v in asdict(session).items()})
        pipe.expire(_k("ps", session.session_hash), ttl)
        if session.sid:
            pipe.hset(_k("sid", session.sid), mapping={
                "session_hash": session.session_hash, "sub": sub})
            pipe.expire(_k("sid", session.sid), ttl)
        pipe.execute()
        return cookie_value, session

    def session(self, cookie_value: str | None) -> ProviderSession | None:
        if not cookie_value:
            return None
        raw = self.redis.hgetall(_k("ps", digest(cookie_value)))
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return ProviderSession(session_hash=data["session_hash"], csrf_token=data["csrf_token"],
                               sub=data.get("sub", ""), sid=data.get("sid", ""),
                               auth_time=int(data.get("auth_time", 0) or 0))

    def session_by_sid(self, sid: str) -> tuple[str, str] | None:
        """(session hash, sub) of the provider session with this `sid`."""
        raw = self.redis.hgetall(_k("sid", sid))
        if not raw:
            return None
        return raw[b"session_hash"].decode(), raw[b"sub"].decode()

    def add_session_client(self, sid: str, client_id: str, ttl: int) -> None:
        pipe = self.redis.pipeline()
        pipe.sadd(_k("sid-clients", sid), client_id)
        pipe.expire(_k("sid-clients", sid), ttl)
        pipe.execute()

    def end_session(self, sid: str, session_hash: str | None) -> tuple[set[str], set[str]]:
        """Delete a provider session; return the clients and token families it had issued to."""
        pipe = self.redis.pipeline()
        pipe.smembers(_k("sid-clients", sid))
        pipe.smembers(_k("sid-families", sid))
        pipe.delete(_k("sid", sid), _k("sid-clients", sid), _k("sid-families", sid))
        if session_hash:
            pipe.delete(_k("ps", session_hash))
        clients, families, *_ = pipe.execute()
        return {c.decode() for c in clients}, {f.decode() for f in families}

    def delete_session(self, session_hash: str) -> None:
        self.redis.delete(_k("ps", session_hash))

    # -- login throttling ---------------------------------------------------------------
    def count_login_attempt(self, username: str, address: str, window: int) -> tuple[int, int]:
        """Count an attempt for the user and the address before its password is checked, and
        return both counts including it: N concurrent guesses see N distinct counts, so no more
        than the limit are ever checked."""
        pipe = self.redis.pipeline()
        for key in (_k("fail-user", digest(username.lower())), _k("fail-addr", address)):
            pipe.incr(key)
            self._expire_if_persistent(keys=[key], args=[window * 1000], client=pipe)
        user, _, addr, _ = pipe.execute()
        return int(user), int(addr)

    def forget_login_attempt(self, username: str, address: str) -> None:
        """A successful login: the user's failures are forgiven, and the attempt does not count
        against its address (an office behind one address signs in all day)."""
        pipe = self.redis.pipeline()
        pipe.delete(_k("fail-user", digest(username.lower())))
        pipe.decr(_k("fail-addr", address))
        pipe.execute()


def _k(kind: str, *parts: str) -> str:
    return PREFIX + kind + ":" + ":".join(parts)
