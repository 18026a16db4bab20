"""The token manager's races and failures, on a real Redis against a fake provider that can
stall, fail, or let a "sibling instance" act in the middle of a refresh (invariants 4 and 8)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bff.errors import LoginRequired, ProviderUnavailable
from bff.oidc import OidcClient
from bff.sansio.keyspace import refresh_lock_key
from bff.sansio.refresh import token_set
from bff.sealing import Sealer
from bff.sessions import Session, SessionStore, TokenSet
from bff.settings import build_settings, generate_secret_key
from bff.tokens import RedisLock, TokenManager
from tests.integration.fake_provider import CLIENT_ID, FakeProvider
from tests.integration.session_support import wait_until
from tests.support import RedisServer


@dataclasses.dataclass
class World:
    fake: FakeProvider
    client: redis.Redis
    store: SessionStore
    oidc: OidcClient
    manager: TokenManager

    def session(self, expires_in: float = -5.0) -> Session:
        """A session holding a live refresh token of the fake provider."""
        grant = self.fake.grant()
        now = time.time()
        tokens = TokenSet(access_token=grant["access_token"], refresh_token=grant["refresh_token"],
                          access_expires_at=now + expires_in,
                          access_issued_at=now + expires_in - 300, scope=("openid",))
        return self.store.create(tokens, sub="user-1", sid=None, claims={})[1]

    def current(self, session: Session) -> Session:
        loaded = self.store.load_handle(session.handle)
        assert loaded is not None
        return loaded


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def world(provider: FakeProvider, redis_server: RedisServer) -> Iterator[World]:
    settings = build_settings({
        "base_url": "http://localhost:8000", "issuer": provider.issuer, "client_id": CLIENT_ID,
        "client_secret": "fake-secret", "secret_keys": generate_secret_key(),
        "redis_url": redis_server.url, "refresh_skew": 60,
    })
    sealer = Sealer(settings.secret_keys)
    client = redis_server.client()
    store = SessionStore(client, sealer, settings)
    oidc = OidcClient(settings)
    yield World(provider, client, store, oidc, TokenManager(store, oidc, settings, sealer))
    provider.token_failures.clear()
    provider.on_refresh = None
    provider.refresh_id_claims = None


def test_waiter_uses_the_token_the_winner_stored(world: World) -> None:
    session = world.session()
    in_flight, proceed = threading.Event(), threading.Event()

    def stall(_: str) -> None:
        in_flight.set()
        proceed.wait(10)

    world.fake.on_refresh = stall
    grants = world.fake.refresh_grants
    results: dict[str, str] = {}
    winner = threading.Thread(target=lambda: results.update(
        winner=world.manager.access_token(session)[1]))
    winner.start()
    assert in_flight.wait(10)
    world.fake.on_refresh = None
    waiter = threading.Thread(target=lambda: results.update(
        waiter=world.manager.access_token(session)[1]))
    waiter.start()
    wait_until(lambda: world.client.exists(refresh_lock_key(session.handle)), "the winner's lock")
    assert waiter.is_alive()
    proceed.set()
    winner.join(10)
    waiter.join(10)
    assert results["waiter"] == results["winner"] != session.tokens.access_token
    assert world.fake.refresh_grants == grants + 1


def test_refresher_that_lost_the_race_picks_up_the_new_tokens_from_the_grace_record(
        world: World) -> None:
    """The winner exchanged the refresh token but its session write never landed (it crashed,
    or its lease lapsed): the next refresher must not spend the rotated token again."""
    session = world.session()
    spent = session.tokens.refresh_token
    assert spent is not None
    successor = token_set(world.oidc.refresh(spent, session.sub), session.tokens, time.time())
    world.store.save_grace(session.handle, spent, successor)
    grants = world.fake.refresh_grants

    _, access = world.manager.access_token(session)

    assert access == successor.access_token
    assert world.fake.refresh_grants == grants
    assert world.current(session).tokens.refresh_token == successor.refresh_token


def test_invalid_grant_after_a_sibling_rotated_is_a_lost_race_not_the_end(world: World) -> None:
    session = world.session()
    sibling = world.fake.grant()

    def sibling_refreshes_first(_: str) -> None:
        current = world.current(session)
        world.store.replace_tokens(current, dataclasses.replace(
            current.tokens, access_token=sibling["access_token"],
            refresh_token=sibling["refresh_token"], access_expires_at=time.time() + 300))

    world.fake.on_refresh = sibling_refreshes_first
    world.fake.token_failures[:] = ["invalid_grant"]

    _, access = world.manager.access_token(session)

    assert access == sibling["access_token"]
    assert world.current(session).tokens.refresh_token == sibling["refresh_token"]


def test_invalid_grant_ends_the_session(world: World) -> None:
    session = world.session()
    world.fake.token_failures[:] = ["invalid_grant"]
    with pytest.raises(LoginRequired):
        world.manager.access_token(session)
    assert world.store.load_handle(session.handle) is None
    assert not world.client.exists(refresh_lock_key(session.handle))


def test_conflicting_write_during_refresh_does_not_lose_the_rotation(world: World) -> None:
    session = world.session()

    def concurrent_write(_: str) -> None:
        current = world.current(session)
        assert world.store.replace_tokens(current, current.tokens) is not None

    world.fake.on_refresh = concurrent_write
    _, access = world.manager.access_token(session)
    current = world.current(session)
    assert current.version == session.version + 2
    assert current.tokens.access_token == access != session.tokens.access_token
    assert current.tokens.refresh_token != session.tokens.refresh_token


def test_transient_provider_failures_are_retried(world: World) -> None:
    session = world.session()
    attempts, grants = world.fake.refresh_attempts, world.fake.refresh_grants
    world.fake.token_failures[:] = ["503", "503"]
    _, access = world.manager.access_token(session)
    assert access != session.tokens.access_token
    assert world.fake.refresh_attempts == attempts + 3
    assert world.fake.refresh_grants == grants + 1


def test_provider_failure_with_a_still_valid_token_keeps_using_it(world: World) -> None:
    session = world.session(expires_in=30)
    world.fake.token_failures[:] = ["503", "503", "503"]
    _, access = world.manager.access_token(session)
    assert access == session.tokens.access_token
    assert world.current(session).version == session.version


def test_provider_failure_with_an_expired_token_fails_softly_and_keeps_the_session(
        world: World) -> None:
    session = world.session()
    world.fake.token_failures[:] = ["503", "503", "503"]
    with pytest.raises(ProviderUnavailable):
        world.manager.access_token(session)
    assert world.current(session).tokens.refresh_token == session.tokens.refresh_token
    assert not world.client.exists(refresh_lock_key(session.handle))
    _, access = world.manager.access_token(session)
    assert access != session.tokens.access_token


def test_network_failure_is_retried_and_keeps_the_session(world: World) -> None:
    session = world.session()
    world.oidc.metadata()
    with world.fake.server.down(), pytest.raises(ProviderUnavailable):
        world.manager.access_token(session)
    assert world.current(session).tokens.refresh_token == session.tokens.refresh_token
    _, access = world.manager.access_token(session)
    assert access != session.tokens.access_token


def test_lock_lease_is_renewed_while_held_and_gone_after_release(world: World) -> None:
    key = "bff:{lease-test}:lock"
    lock = RedisLock(world.client, key, lease_ms=2000)
    assert lock.acquire()
    assert not RedisLock(world.client, key).acquire()
    renewals, last = 0, world.client.pttl(key)
    deadline = time.monotonic() + 10
    while renewals < 3 and time.monotonic() < deadline:
        ttl = world.client.pttl(key)
        assert ttl > 0, "the lease lapsed while the lock was held"
        renewals += ttl > last
        last = ttl
        time.sleep(0.01)
    assert renewals >= 3
    lock.release()
    assert not world.client.exists(key)
    assert RedisLock(world.client, key).acquire()
    world.client.delete(key)


def refreshed_id_claims(provider: FakeProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": provider.issuer, "sub": "user-1", "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "name": "Renamed User", "email": "new@example.com", **changes}


def test_a_refreshed_id_token_refreshes_the_sessions_claims(world: World) -> None:
    """OIDC Core 12.2: a valid ID token in the refresh answer (same iss and sub, no nonce)."""
    world.fake.refresh_id_claims = refreshed_id_claims(world.fake)
    session = world.session()
    refreshed, _ = world.manager.access_token(session)
    assert world.current(session).claims["name"] == "Renamed User"
    assert refreshed.tokens.refresh_token != session.tokens.refresh_token


@pytest.mark.parametrize("change", ["another_sub", "another_audience", "another_issuer",
                                    "expired"])
def test_a_refreshed_id_token_for_someone_else_or_invalid_ends_the_session(
        world: World, change: str) -> None:
    changes = {"another_sub": {"sub": "someone-else"}, "another_audience": {"aud": "other"},
               "another_issuer": {"iss": "https://evil.example"},
               "expired": {"exp": int(time.time()) - 3600}}[change]
    world.fake.refresh_id_claims = refreshed_id_claims(world.fake, **changes)
    session = world.session()
    with pytest.raises(LoginRequired):
        world.manager.access_token(session)
    assert world.store.load_handle(session.handle) is None
