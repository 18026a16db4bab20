"""Pending logins, kept per ``state`` between /bff/login and /bff/callback.

Each is single-use (``GETDEL``), expires on its own, and is bound to the browser that started it
by a random value in a short-lived HttpOnly cookie scoped to ``/bff/`` (one per browser, shared by
its tabs): a ``state`` carried to another browser (login CSRF, code injection) finds no matching
binding there.
The nonce and PKCE verifier are sealed, so a Redis dump cannot complete someone's login.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis

from bff.sealing import Sealer, SealError
from bff.store import store_errors

BINDING_COOKIE = "bff_login"
BINDING_BYTES = 32


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    code_verifier: str
    return_url: str
    binding_digest: str


def binding_digest(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def new_binding() -> str:
    return secrets.token_urlsafe(BINDING_BYTES)


def _key(state: str) -> str:
    return f"bff:login:{{{hashlib.sha256(state.encode()).hexdigest()}}}"


class PendingLogins:
    def __init__(self, client: redis.Redis, sealer: Sealer, timeout: int) -> None:
        self._redis = client
        self._sealer = sealer
        self._timeout = timeout

    def save(self, login: PendingLogin) -> None:
        secret = json.dumps({"n": login.nonce, "v": login.code_verifier}).encode()
        record = json.dumps({
            "s": self._sealer.seal(secret, _key(login.state)), "r": login.return_url,
            "b": login.binding_digest,
        })
        with store_errors():
            self._redis.set(_key(login.state), record, ex=self._timeout)

    def take(self, state: str, binding: str | None) -> PendingLogin | None:
        """The login for ``state`` if it exists and this browser started it; consumed either way."""
        key = _key(state)
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
