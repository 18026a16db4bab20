"""Pending logins, kept per ``state`` between /bff/login and /bff/callback.

Each is single-use (``GETDEL``), expires on its own, and is bound to the browser that started it
by a value in a short-lived HttpOnly cookie (``__Host-`` over https, ``Path=/``; one per browser,
shared by its tabs): a ``state`` carried to another browser (login CSRF, code injection) finds no
matching binding there.

The binding is only ever minted by the BFF (invariant 11): it is an AES-GCM envelope of random
bytes, so a value the BFF did not make fails to open and is replaced, never adopted or echoed. A
browser that sends the cookie twice (one tossed by a sibling host for a narrower path, say) has no
binding at all: no copy can win by the order the browser sends them in.
The nonce and PKCE verifier are sealed, so a Redis dump cannot complete someone's login.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis

from bff.sansio.keyspace import pending_login_key
from bff.sansio.security import sole_value
from bff.sealing import Sealer, SealError
from bff.store import store_errors

BINDING_BYTES = 32
BINDING_CONTEXT = "bff:login-binding"


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    code_verifier: str
    return_url: str
    binding_digest: str


def binding_digest(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def new_binding(sealer: Sealer) -> str:
    return sealer.seal(secrets.token_bytes(BINDING_BYTES), BINDING_CONTEXT)


def minted_binding(sealer: Sealer, presented: list[str]) -> str | None:
    """The browser's binding when it sent exactly one value and the BFF minted it; else None."""
    binding = sole_value(presented)
    if binding is None:
        return None
    try:
        sealer.open(binding, BINDING_CONTEXT)
    except SealError:
        return None
    return binding


class PendingLogins:
    """Logins between /bff/login and /bff/callback, one record per ``state``: single-use
    (``GETDEL``), expiring by themselves, bound to the browser's binding, nonce and verifier
    sealed."""

    def __init__(self, client: redis.Redis, sealer: Sealer, timeout: int) -> None:
        self._redis = client
        self._sealer = sealer
        self._timeout = timeout

    def save(self, login: PendingLogin) -> None:
        secret = json.dumps({"n": login.nonce, "v": login.code_verifier}).encode()
        record = json.dumps({
            "s": self._sealer.seal(secret, pending_login_key(login.state)), "r": login.return_url,
            "b": login.binding_digest,
        })
        with store_errors():
            self._redis.set(pending_login_key(login.state), record, ex=self._timeout)

    def take(self, state: str, binding: str | None) -> PendingLogin | None:
        """The login for ``state`` if it exists and this browser started it; consumed either way."""
        key = pending_login_key(state)
        with store_errors():
            raw = self._redis.getdel(key)
        if raw is None or binding is None:
            return None
        record = json.loads(raw)
        if not hmac.compare_digest(record["b"], binding_digest(binding)):
            return None
        try:
            secret = json.loads(self._sealer.open(record["s"], key))
        except SealError:
            return None
        return PendingLogin(state=state, nonce=secret["n"], code_verifier=secret["v"],
                            return_url=record["r"], binding_digest=record["b"])
