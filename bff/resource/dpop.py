"""Sender-constrained tokens at a resource server (RFC 9449 section 7): a DPoP-bound token
(``cnf.jkt``) is accepted only as ``Authorization: DPoP`` with a fresh proof of that key for
this very request, once; the same token sent as ``Bearer`` is refused (section 7.1), so a copy
of it taken from a log is useless without the private key.

``ProofReplay`` remembers the proofs seen: in Redis (``SET NX`` with the proof's remaining
life, shared by every instance) or, without one, in a bounded map in this process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import redis

from bff.resource.errors import ResourceError
from bff.sansio.keyspace import digest

MEMORY_LIMIT = 100_000


class InvalidDpopProof(ResourceError):
    code = "invalid_dpop_proof"
    status = 401
    description = "the DPoP proof is not valid"


class UseDpopNonce(ResourceError):
    """Section 9: the resource server wants its nonce in the proof (sent as ``DPoP-Nonce``)."""

    code = "use_dpop_nonce"
    status = 401
    description = "a DPoP proof with the server's nonce is required"

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce


class ProofReplay:
    """``first_use(jkt, jti, ttl)``: True the first time a proof is seen, False after."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, jkt: str, jti: str, ttl: float) -> bool:
        key = f"bff:dpop-jti:{{{digest(jkt + ':' + jti, 40)}}}"
        if self._redis is not None:
            return bool(self._redis.set(key, "1", nx=True, ex=max(1, int(ttl))))
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) >= MEMORY_LIMIT or
                                  next(iter(self._seen.values())) <= now):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + ttl
            return True
