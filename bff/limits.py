"""Abuse limits on the login endpoints, counted in Redis so every instance shares them.

A flood of ``/bff/login`` would fill Redis with pending logins and send the provider a login page
per request; a flood of ``/bff/callback`` would make the BFF call the provider's token endpoint.
So each client address gets ``login_rate_limit`` requests per minute on each endpoint (a sliding
window: the previous minute's count, weighted by how much of it still overlaps, plus this
minute's), and each browser (its login binding cookie) at most ``max_pending_logins`` logins in
flight. Behind a load balancer, the address comes from ``X-Forwarded-For`` only when the peer is
one of ``trusted_proxies``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis
from flask import current_app, request

from bff import metrics
from bff.errors import TooManyRequests
from bff.sansio.keyspace import pending_logins_key, rate_window_key
from bff.sansio.proxy_rules import is_trusted
from bff.settings import IPNetwork, Settings
from bff.store import store_errors

WINDOW_SECONDS = 60
LIMITED_ENDPOINTS = {"bff.login": "login", "bff.callback": "callback"}

# KEYS[1] counter; ARGV: cap, ttl s. 1 and counted when under the cap, else 0 and not counted.
_OPEN_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
_CLOSE_SCRIPT = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"""


def window_keys(name: str, subject: str, now: float, window: int) -> tuple[str, str]:
    """This window's and the previous window's counters; one hash tag, so one Cluster slot."""
    index = int(now // window)
    return rate_window_key(name, subject, index), rate_window_key(name, subject, index - 1)


def sliding_count(previous: int, current: int, now: float, window: int) -> float:
    """Requests in the last ``window`` seconds, assuming the previous window's were spread
    evenly: cheap (two counters) and without the burst a fixed window allows at its edge."""
    elapsed = (now % window) / window
    return previous * (1.0 - elapsed) + current


def client_address(peer: str, forwarded_for: str, trusted: tuple[IPNetwork, ...]) -> str | None:
    """The address to count, or None when there is none to vouch for.

    When the peer is a trusted proxy, it is the nearest address in ``X-Forwarded-For`` that is
    not one of ours (earlier entries are the client's word and could name anyone). A loopback
    peer that is not a trusted proxy is local tooling or a reverse proxy nobody declared: counting
    it would put every user behind one counter, so it is not counted (set trusted_proxies).
    """
    if not is_trusted(peer, trusted):
        try:
            loopback = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            loopback = False
        return None if loopback else peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class Limits:
    """Abuse limits kept in Redis so they hold across instances: logins per client address per
    minute, and logins in flight per browser. The address is the direct peer, or the client a
    trusted proxy names; a limit of 0 is off."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._per_minute = settings.login_rate_limit
        self._max_pending = settings.max_pending_logins
        self._login_timeout = settings.login_timeout
        self._trusted = settings.trusted_proxies
        self._open = client.register_script(_OPEN_SCRIPT)
        self._close = client.register_script(_CLOSE_SCRIPT)

    def hit(self, name: str, subject: str, now: float | None = None) -> Verdict:
        """Count one request by ``subject`` on ``name``; refused past the per-minute limit."""
        if not self._per_minute:
            return Verdict(True)
        now = time.time() if now is None else now
        current_key, previous_key = window_keys(name, subject, now, WINDOW_SECONDS)
        with store_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(current_key)
            pipe.expire(current_key, 2 * WINDOW_SECONDS)
            pipe.get(previous_key)
            current, _, previous = pipe.execute()
        if sliding_count(int(previous or 0), int(current), now, WINDOW_SECONDS) \
                <= self._per_minute:
            return Verdict(True)
        return Verdict(False, retry_after=max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS)))

    def open_login(self, binding: str) -> bool:
        """One more login in flight for this browser, unless it already has the maximum."""
        if not self._max_pending:
            return True
        with store_errors():
            return bool(self._open(keys=[self._pending_key(binding)],
                                   args=[self._max_pending, self._login_timeout]))

    def close_login(self, binding: str) -> None:
        if self._max_pending:
            with store_errors():
                self._close(keys=[self._pending_key(binding)])

    def address(self, environ_peer: str, headers: Mapping[str, str]) -> str | None:
        return client_address(environ_peer, headers.get("X-Forwarded-For", ""), self._trusted)

    @staticmethod
    def _pending_key(binding: str) -> str:
        return pending_logins_key(binding)


def enforce() -> None:
    """``before_request``: the per-address limit on login and callback, the per-browser cap on
    logins in flight; anything else passes untouched."""
    name = LIMITED_ENDPOINTS.get(request.endpoint or "")
    if name is None:
        return
    limits: Limits = current_app.extensions["bff_limits"]
    address = limits.address(request.remote_addr or "", request.headers)
    verdict = limits.hit(name, address) if address is not None else Verdict(True)
    if not verdict.allowed:
        metrics.RATE_LIMITED.labels(limit=f"{name}_per_address").inc()
        raise TooManyRequests(
            "Too many login attempts from your network; please wait a minute and try again.",
            headers={"Retry-After": str(verdict.retry_after)},
        )
    binding = request.cookies.get(current_app.extensions["bff"].settings.binding_cookie_name)
    if binding is None:
        return
    if name == "callback":
        limits.close_login(binding)
    elif not limits.open_login(binding):
        metrics.RATE_LIMITED.labels(limit="pending_logins").inc()
        raise TooManyRequests(
            "This browser has too many logins in progress; finish one, or wait a few minutes.",
            headers={"Retry-After": "60"},
        )
