"""Shared pieces for the session tests: a demo stack whose keys the test knows, extra BFF
instances (``bff serve`` or gunicorn with several workers) on the same Redis and provider, and a
``SessionStore`` built from the same keys so a test can look inside Redis as the BFF does.

No tests live here; pytest collects the module and finds none.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from bff.authserver.store import AuthStore
from bff.sansio.keyspace import session_handle, session_record_key
from bff.sealing import Sealer
from bff.sessions import Session, SessionStore
from bff.settings import build_settings, decode_secret_key, generate_secret_key
from bff.signing_keys import SigningKey, generate_signing_key
from tests import support
from tests.support import (
    BffProcess,
    DemoStack,
    RedisServer,
    free_port,
    start_bff,
    start_demo,
)

DEMO_CLIENT_ID = "bff-demo"
DEMO_CLIENT_SECRET = "demo-bff-secret-change-me"
INTROSPECTING_CLIENT = ("demo-api", "demo-api-secret-change-me")
COOKIE = "bff"
# These tests log in far more often per minute than a person; the abuse limit has its own tests.
UNLIMITED_LOGINS = {"BFF_LOGIN_RATE_LIMIT": "0"}

ORDERS_ROUTE = """
[[routes]]
prefix = "/api/orders"
upstream = "http://127.0.0.1:{api_port}/orders"
methods = ["GET", "POST"]
token = "user"
scopes = ["orders:read"]
resource = "http://localhost:{api_port}"
"""


def store_for(client: redis.Redis, keys: str, **settings: object) -> SessionStore:
    """A SessionStore that reads and writes exactly as a BFF configured with ``keys`` does."""
    built = build_settings({
        "base_url": "http://localhost:8000", "issuer": "http://localhost:8001",
        "client_id": "inspector", "client_secret": "unused", "secret_keys": keys, **settings,
    })
    return SessionStore(client, Sealer(tuple(decode_secret_key(k) for k in keys.split(","))),
                        built)


@dataclass
class KnownStack:
    """`bff demo` started with a secret key and a provider key directory the test knows."""

    demo: DemoStack
    keys: str
    key_dir: Path
    dpop_key: SigningKey

    @property
    def bff_url(self) -> str:
        return self.demo.bff_url

    @property
    def issuer(self) -> str:
        return self.demo.issuer

    @property
    def api_port(self) -> int:
        return self.demo.port + 2

    @property
    def redis(self) -> RedisServer:
        return self.demo.redis

    def store(self, keys: str | None = None) -> SessionStore:
        return store_for(self.redis.client(), keys or self.keys)

    def auth_store(self) -> AuthStore:
        return AuthStore(self.redis.client())

    def session(self, browser: requests.Session, keys: str | None = None) -> Session | None:
        """The session the browser's cookie names, read without sliding it."""
        cookie = bff_cookie(browser)
        return None if cookie is None else self.store(keys).load(cookie, slide=False)

    def introspect(self, token: str) -> dict[str, object]:
        """What the provider says about a token (RFC 7662), asked as the demo API."""
        response = requests.post(f"{self.issuer}/introspect", data={"token": token},
                                 auth=INTROSPECTING_CLIENT, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.demo.stop()


def start_known_stack(redis_server: RedisServer, env: Mapping[str, str] | None = None
                      ) -> KnownStack:
    keys, dpop_key = generate_secret_key(), generate_signing_key()
    key_dir = Path(tempfile.mkdtemp(prefix="bff-test-as-keys-"))
    demo = start_demo(redis_server, {"BFF_SECRET_KEYS": keys, **UNLIMITED_LOGINS,
                                     "BFF_DPOP_KEYS": json.dumps(dpop_key.private_jwk()),
                                     "BFF_AUTHSERVER_KEY_DIR": str(key_dir), **(env or {})})
    return KnownStack(demo=demo, keys=keys, key_dir=key_dir, dpop_key=dpop_key)


def bff_cookie(browser: requests.Session) -> str | None:
    for cookie in browser.cookies:
        if cookie.name == COOKIE:
            return cookie.value
    return None


def record_of(client: redis.Redis, session_id: str) -> bytes | None:
    return client.get(session_record_key(session_handle(session_id)))


def expire_access_token(store: SessionStore, session: Session, remaining: float = -5.0
                        ) -> Session:
    """Make the session's access tokens (as the BFF sees them: its own and those for resources)
    expire ``remaining`` seconds from now, through the store's own compare-and-set write: the
    tokens themselves are untouched."""
    now = time.time()
    resources = {resource: dataclasses.replace(held, expires_at=now + remaining,
                                               issued_at=now + remaining - 900)
                 for resource, held in session.tokens.resources.items()}
    tokens = dataclasses.replace(session.tokens, access_expires_at=now + remaining,
                                 access_issued_at=now + remaining - 900, resources=resources)
    updated = store.replace_tokens(session, tokens)
    assert updated is not None
    return updated


def instance_env(stack: KnownStack, keys: str, config: Path,
                 extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A second BFF for the stack: same public origin (the registered redirect URI), provider,
    client, Redis and DPoP key (its sessions' tokens are bound to it); its own sealing keys."""
    return {
        "BFF_CONFIG": str(config), "BFF_BASE_URL": stack.bff_url, "BFF_ISSUER": stack.issuer,
        "BFF_CLIENT_ID": DEMO_CLIENT_ID, "BFF_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "BFF_SECRET_KEYS": keys, "BFF_REDIS_URL": stack.redis.url,
        "BFF_DPOP": "auto", "BFF_DPOP_KEYS": json.dumps(stack.dpop_key.private_jwk()),
        "BFF_SCOPES": "openid profile email offline_access orders:read orders:write",
        "PYTHONUNBUFFERED": "1", **UNLIMITED_LOGINS, **(extra or {}),
    }


def write_config(text: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="bff-test-", suffix=".toml")
    os.close(fd)
    path = Path(name)
    path.write_text(text)
    return path


def start_instance(stack: KnownStack, keys: str, *, config_extra: str = "",
                   env: Mapping[str, str] | None = None) -> BffProcess:
    """`bff serve` on a free port, sharing the stack's Redis and provider."""
    config = write_config(config_extra + ORDERS_ROUTE.format(api_port=stack.api_port))
    port = free_port()
    return start_bff(["serve", "--port", str(port)], port,
                     env=instance_env(stack, keys, config, env))


def start_gunicorn(env: Mapping[str, str], *, port: int | None = None, workers: int = 3,
                   threads: int = 8, timeout: float = 60.0) -> BffProcess:
    """Production-style: gunicorn with several worker processes, each building its own app."""
    return support.start_gunicorn(port or free_port(), env, workers=workers, threads=threads,
                                  timeout=timeout)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition()`` for something that happens asynchronously (not a timing claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")
