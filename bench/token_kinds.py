"""What each kind of token costs a proxied request, and a session's size in Redis: the session's
own bearer token, an audience-restricted token for a route's resource (RFC 8707) and a
DPoP-bound token with a fresh proof per request (RFC 9449), through the same in-process BFF in
one run; and the session record with no, one and two resource tokens (realistic RS256 JWTs).

    python -m bench.token_kinds [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import statistics
import time

import jwt
import redis
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.inprocess import per_request_us, redis_and_upstream
from bff.app import create_app
from bff.sansio.keyspace import session_handle, session_record_key
from bff.sansio.refresh import ResourceToken, TokenSet
from bff.settings import build_settings, generate_secret_key
from bff.signing_keys import generate_signing_key

ORDERS, STOCK = "https://orders.example", "https://stock.example"
SCOPE = "openid profile email offline_access orders:read orders:write"


def access_token(key: rsa.RSAPrivateKey, audience: str) -> str:
    """An RS256 access token shaped like the reference provider's (RFC 9068 claims)."""
    now = int(time.time())
    return jwt.encode({
        "iss": "http://localhost:8001", "sub": "alice", "aud": audience, "exp": now + 900,
        "iat": now, "jti": secrets.token_urlsafe(16), "client_id": "bff-demo", "scope": SCOPE,
        "auth_time": now, "sid": secrets.token_urlsafe(16)},
        key, algorithm="RS256", headers={"kid": "k1", "typ": "at+jwt"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    signing = rsa.generate_private_key(65537, 2048)
    dpop_key = generate_signing_key()
    with redis_and_upstream() as (redis_url, upstream):
        echo = f"http://127.0.0.1:{upstream.server_port}/echo"
        settings = build_settings({
            "base_url": "http://localhost:8000", "issuer": "http://127.0.0.1:9",
            "client_id": "bench", "client_secret": "bench", "secret_keys": generate_secret_key(),
            "redis_url": redis_url, "dpop_keys": json.dumps(dpop_key.private_jwk()),
            "routes": [{"prefix": "/api/plain", "upstream": echo},
                       {"prefix": "/api/orders", "upstream": echo, "resource": ORDERS}]})
        app = create_app(settings)
        store = app.extensions["bff"].store
        now = time.time()

        def session(resources: dict[str, ResourceToken], jkt: str | None = None) -> str:
            tokens = TokenSet(access_token(signing, "demo-api"), secrets.token_urlsafe(32),
                              now + 3600, now, tuple(SCOPE.split()), resources, jkt)
            cookie, _ = store.create(tokens, sub="alice", sid=secrets.token_urlsafe(16),
                                     claims={"sub": "alice", "name": "Alice Liddell",
                                             "email": "alice@example.com"})
            return cookie

        def held(audience: str) -> ResourceToken:
            return ResourceToken(access_token(signing, audience), now + 3600, now)

        bearer = session({})
        with_resource = session({ORDERS: held(ORDERS)})
        bound = session({}, dpop_key.thumbprint)
        two = session({ORDERS: held(ORDERS), STOCK: held(STOCK)})
        rows: dict[str, list[float]] = {"bearer, session's token": [],
                                        "bearer, resource token": [], "DPoP-bound": []}
        for _ in range(args.rounds):
            rows["bearer, session's token"].append(
                per_request_us(app, bearer, args.requests, "/api/plain/1"))
            rows["bearer, resource token"].append(
                per_request_us(app, with_resource, args.requests, "/api/orders/1"))
            rows["DPoP-bound"].append(per_request_us(app, bound, args.requests, "/api/plain/1"))
        base = statistics.median(rows["bearer, session's token"])
        print(f"{'token':<26} {'us/request (median)':>20} {'vs bearer':>10}")
        for name, values in rows.items():
            value = statistics.median(values)
            print(f"{name:<26} {value:>20.0f} {value - base:>+9.0f}us")
        client = redis.Redis.from_url(redis_url)
        print()
        print(f"{'session record':<34} {'value bytes':>12} {'MEMORY USAGE':>13}")
        for name, cookie in (("one token (no resources)", bearer),
                             ("one resource token", with_resource),
                             ("two resource tokens", two)):
            key = session_record_key(session_handle(cookie))
            print(f"{name:<34} {client.strlen(key):>12,} "
                  f"{client.memory_usage(key) or 0:>13,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
