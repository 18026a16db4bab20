"""Invariant 2: a Redis dump alone yields no usable token.

After a login and a refresh (so session record, grace record and indexes all exist), every key
in Redis is read back and searched for the session's access and refresh tokens (the ID token is
not kept after login), any 16
characters of them, and the session cookie. The tokens to look for are the real ones, opened
with the BFF's keys, so the search cannot pass by looking for the wrong thing.
"""

from __future__ import annotations

import redis
import requests

from bff.sansio.keyspace import refresh_grace_key
from tests.integration.session_support import (
    KnownStack,
    bff_cookie,
    expire_access_token,
)
from tests.support import XHR, log_in

FRAGMENT = 16


def dump(client: redis.Redis) -> bytes:
    """Every key and every value in Redis, whatever its type."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == b"set":
            parts += list(client.smembers(key))
        elif kind == b"zset":
            parts += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"list":
            parts += list(client.lrange(key, 0, -1))
    return b"\n".join(parts)


def secret_fragments(secret: str) -> set[str]:
    """Every 16-character piece of a secret; for a JWT, of its claims and signature (its
    header is the same for every token a key signs, so it is no secret)."""
    text = secret.split(".", 1)[1] if secret.count(".") == 2 else secret
    return {text[i:i + FRAGMENT] for i in range(len(text) - FRAGMENT + 1)}


def leaks(haystack: bytes, secrets: dict[str, str]) -> list[str]:
    return [name for name, secret in secrets.items()
            if any(fragment.encode() in haystack for fragment in secret_fragments(secret))]


def test_redis_dump_after_login_contains_no_token_or_token_fragment(stack: KnownStack) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    session = stack.session(browser)
    assert session is not None
    expire_access_token(stack.store(), session)
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    refreshed = stack.session(browser)
    cookie = bff_cookie(browser)
    assert refreshed is not None and cookie
    client = stack.redis.client()
    assert client.exists(refresh_grace_key(refreshed.handle))

    secrets = {
        "access token": refreshed.tokens.access_token,
        "refresh token": refreshed.tokens.refresh_token or "",
        "spent access token": session.tokens.access_token,
        "spent refresh token": session.tokens.refresh_token or "",
        "session cookie": cookie,
    }
    assert all(len(value) >= 32 for value in secrets.values())
    assert refreshed.tokens.access_token.count(".") == 2
    assert refreshed.tokens.refresh_token != session.tokens.refresh_token

    haystack = dump(client)
    assert len(haystack) > 1000
    assert leaks(haystack + secrets["refresh token"][5:30].encode(), secrets) == \
        ["refresh token"]
    assert leaks(haystack, secrets) == []
