"""Revocation that reaches offline validators: the reference provider's revocation list,
followed from its Redis stream.

JWT validation is offline for speed, and pays for it: a revoked token stays valid until it
expires. A ``RevocationList`` closes that gap without a call on the request path: it loads the
provider's list at start and then follows it (``XREAD BLOCK``), so a revocation reaches the
validator within about a second; each request costs dictionary lookups. When the list cannot
be read the last copy stays in force and ``stale`` says so; with ``fail_closed_after`` set,
tokens are refused once it has been unreadable that long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis

from bff.sansio.revocations import STREAM_KEY, RevokedSet, parse_entry

log = logging.getLogger(__name__)

BLOCK_MS = 1000
BATCH = 1000
MAX_BACKOFF = 5.0
FORGET_EVERY = 60.0


class RevocationList:
    """Start it once per process; ``reason(claims)`` is safe from any thread."""

    def __init__(self, redis_url: str, *, stream_key: str = STREAM_KEY,
                 fail_closed_after: float | None = None, block_ms: int = BLOCK_MS) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=block_ms / 1000 + 5)
        self._key = stream_key
        self._block_ms = block_ms
        self._fail_closed_after = fail_closed_after
        self._revoked = RevokedSet()
        self._last_id = "0-0"
        self._unreadable_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="revocation-list",
                                        daemon=True)

    def start(self) -> RevocationList:
        """Read what is there now (so a fresh process starts with the whole list), then
        follow new entries in the background."""
        self._read_once(block_ms=None)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._block_ms / 1000 + 6)

    @property
    def stale(self) -> bool:
        """The list could not be read lately: revocations since then are not known here."""
        return self._unreadable_since is not None

    def reason(self, claims: Mapping[str, Any]) -> str | None:
        """Why a validly signed token is refused, or None; no I/O."""
        since = self._unreadable_since
        if since is not None and self._fail_closed_after is not None and \
                time.monotonic() - since > self._fail_closed_after:
            return "the revocation list cannot be read"
        return self._revoked.reason(claims)

    def _follow(self) -> None:
        backoff = 0.5
        last_forget = time.monotonic()
        while not self._stop.is_set():
            if self._read_once(block_ms=self._block_ms):
                backoff = 0.5
            else:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            if time.monotonic() - last_forget > FORGET_EVERY:
                self._revoked.forget_expired(time.time())
                last_forget = time.monotonic()

    def _read_once(self, block_ms: int | None) -> bool:
        try:
            while True:
                answer = self._redis.xread({self._key: self._last_id}, count=BATCH,
                                           block=block_ms)
                entries = answer[0][1] if answer else []
                for entry_id, fields in entries:
                    entry = parse_entry(fields)
                    if entry is not None:
                        self._revoked.apply(entry)
                    self._last_id = entry_id.decode() if isinstance(entry_id, bytes) \
                        else str(entry_id)
                if len(entries) < BATCH:
                    break
                block_ms = None
        except redis.RedisError as exc:
            if self._unreadable_since is None:
                log.warning("the revocation list cannot be read (%s); the last copy stays "
                            "in force", type(exc).__name__)
                self._unreadable_since = time.monotonic()
            return False
        if self._unreadable_since is not None:
            log.info("the revocation list is readable again")
            self._unreadable_since = None
        return True
