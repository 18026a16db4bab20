"""Revocation that reaches offline validators: the reference provider publishes what it revokes,
and a demo API following that list refuses a revoked token within about a second, with no call
to the provider on the request path."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.authserver.store import AuthStore
from bff.processes import free_port
from bff.resource.revocations import RevocationList
from tests.integration.authserver_support import BFF_SECRET, AuthServer, refresh, tokens_for
from tests.integration.scale_support import start_redis_at, wait_until
from tests.support import BffProcess, RedisServer, start_bff

BOUND_SECONDS = 2.0


@pytest.fixture(scope="module")
def api(server: AuthServer, redis_server: RedisServer) -> Iterator[BffProcess]:
    """The demo orders API following the provider's list, with no introspection at all."""
    port = free_port()
    process = start_bff(["demo-api", "--issuer", server.issuer, "--port", str(port),
                         "--revocations-redis-url", redis_server.url], port)
    try:
        yield process
    finally:
        process.stop()


def status(api: BffProcess, token: str) -> int:
    return requests.get(f"{api.url}/orders", headers={"Authorization": f"Bearer {token}"},
                        timeout=5).status_code


def refused_within(api: BffProcess, token: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 10:
        if status(api, token) == 401:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("the revoked token was still accepted after 10 s")


def test_a_revoked_access_token_is_refused_within_the_bound_without_asking_the_provider(
        server: AuthServer, api: BffProcess) -> None:
    token = tokens_for(server)["access_token"]
    assert status(api, token) == 200
    before = server.process.log().count("/introspect")
    revoked = requests.post(f"{server.url}/revoke", auth=("bff-demo", BFF_SECRET),
                            data={"token": token, "token_type_hint": "access_token"})
    assert revoked.status_code == 200
    assert refused_within(api, token) < BOUND_SECONDS
    answer = requests.get(f"{api.url}/orders", headers={"Authorization": f"Bearer {token}"})
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert server.process.log().count("/introspect") == before, "no provider call"


def test_a_refresh_token_replayed_revokes_the_access_tokens_of_its_family(
        server: AuthServer, api: BffProcess) -> None:
    tokens = tokens_for(server)
    fresh = refresh(server.url, tokens["refresh_token"]).json()
    assert status(api, fresh["access_token"]) == 200
    assert refresh(server.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert refused_within(api, fresh["access_token"]) < BOUND_SECONDS


def test_a_user_revoked_everywhere_loses_older_tokens_only(
        server: AuthServer, api: BffProcess, redis_server: RedisServer) -> None:
    older = tokens_for(server)["access_token"]
    bob = tokens_for(server, "bob", "builder")["access_token"]
    AuthStore(redis_server.client()).revoke_user("alice", 900)
    assert refused_within(api, older) < BOUND_SECONDS
    time.sleep(1.1)  # iat has one-second resolution
    newer = tokens_for(server)["access_token"]
    assert status(api, newer) == 200 and status(api, bob) == 200


def test_the_list_survives_its_redis_restarting_and_catches_up(server: AuthServer) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bff-test-revocations-"))
    port = free_port()
    redis = start_redis_at(port, directory)
    listing = RevocationList(f"redis://127.0.0.1:{port}/0", block_ms=200).start()
    try:
        store = AuthStore(redis.client())
        store.revoke_jti("first", int(time.time()) + 60)
        wait_until(lambda: listing.reason({"jti": "first"}), 5, "the first entry")
        redis.stop()
        wait_until(lambda: listing.stale, 10, "the list noticing its Redis is gone")
        assert listing.reason({"jti": "first"}), "the last copy stays in force"
        redis = start_redis_at(port, directory)
        AuthStore(redis.client()).revoke_jti("second", int(time.time()) + 60)
        wait_until(lambda: listing.reason({"jti": "second"}), 15, "the entry after the restart")
        assert not listing.stale
    finally:
        listing.close()
        redis.stop()


def test_fail_closed_refuses_everything_once_the_list_is_unreadable_too_long() -> None:
    listing = RevocationList(f"redis://127.0.0.1:{free_port()}/0", block_ms=100,
                             fail_closed_after=0.2).start()
    try:
        assert listing.stale
        wait_until(lambda: listing.reason({"jti": "any", "sub": "alice"}), 5, "fail closed")
        assert listing.reason({"jti": "any"}) == "the revocation list cannot be read"
    finally:
        listing.close()
