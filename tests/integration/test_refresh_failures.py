"""Invariant 8 through a real BFF process: failure is graceful. A provider outage does not end
sessions, a dead refresh token gives 401 ``login_required``, Redis down gives 503 JSON and the
BFF recovers by itself. Also: refresh timing by the token's expiry (not session age), and
client-credentials tokens fetched once per expiry across worker processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from bff.sessions import Session, SessionStore
from tests.integration.fake_provider import (
    EchoApi,
    FakeProvider,
    fake_login,
    sha256,
    start_fake_bff,
    start_fake_gunicorn,
)
from tests.integration.session_support import (
    bff_cookie,
    expire_access_token,
    store_for,
)
from tests.support import XHR, BffProcess, RedisServer, start_redis


@dataclass
class FakeWorld:
    provider: FakeProvider
    api: EchoApi
    bff: BffProcess
    store: SessionStore

    def login(self) -> tuple[requests.Session, Session]:
        browser = requests.Session()
        assert fake_login(browser, self.bff.url).status_code == 302
        cookie = bff_cookie(browser)
        assert cookie
        session = self.store.load(cookie, slide=False)
        assert session is not None
        return browser, session

    def echo(self, browser: requests.Session) -> requests.Response:
        return browser.get(f"{self.bff.url}/api/echo/x", headers=XHR)

    def current(self, session: Session) -> Session | None:
        return self.store.load_handle(session.handle)


def start_world(redis_server: RedisServer, env: dict[str, str] | None = None) -> FakeWorld:
    provider, api = FakeProvider(), EchoApi()
    bff, bff_env = start_fake_bff(provider, api, redis_server.url, env)
    store = store_for(redis_server.client(), bff_env["BFF_SECRET_KEYS"])
    return FakeWorld(provider, api, bff, store)


def stop_world(world: FakeWorld) -> None:
    world.bff.stop()
    world.provider.stop()
    world.api.stop()


@pytest.fixture(scope="module")
def world(redis_server: RedisServer) -> Iterator[FakeWorld]:
    started = start_world(redis_server)
    try:
        yield started
    finally:
        stop_world(started)


@pytest.fixture(autouse=True)
def healthy_provider(world: FakeWorld) -> Iterator[None]:
    yield
    world.provider.token_failures.clear()


def test_provider_outage_does_not_end_sessions_whose_token_is_valid(world: FakeWorld) -> None:
    browser, session = world.login()
    with world.provider.server.down():
        for _ in range(3):
            response = world.echo(browser)
            assert response.status_code == 200
            assert response.json()["token_sha256"] == sha256(session.tokens.access_token)
        assert browser.get(f"{world.bff.url}/bff/user", headers=XHR).status_code == 200


def test_expired_token_during_a_provider_outage_gives_503_and_keeps_the_session(
        world: FakeWorld) -> None:
    browser, session = world.login()
    expire_access_token(world.store, session)
    with world.provider.server.down():
        response = world.echo(browser)
        assert response.status_code == 503
        assert response.json()["error"] == "provider_unavailable"
        assert browser.get(f"{world.bff.url}/bff/user", headers=XHR).status_code == 200
    recovered = world.echo(browser)
    assert recovered.status_code == 200
    assert recovered.json()["token_sha256"] != sha256(session.tokens.access_token)


def test_provider_5xx_is_retried_and_the_request_succeeds(world: FakeWorld) -> None:
    browser, session = world.login()
    expire_access_token(world.store, session)
    attempts = world.provider.refresh_attempts
    world.provider.token_failures[:] = ["503", "503"]
    response = world.echo(browser)
    assert response.status_code == 200
    assert world.provider.refresh_attempts == attempts + 3
    current = world.current(session)
    assert current is not None
    assert response.json()["token_sha256"] == sha256(current.tokens.access_token)


def test_dead_refresh_token_gives_401_login_required_and_ends_the_session(
        world: FakeWorld) -> None:
    browser, session = world.login()
    expire_access_token(world.store, session)
    world.provider.token_failures[:] = ["invalid_grant"]
    response = world.echo(browser)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "login_required"
    assert world.current(session) is None
    assert browser.get(f"{world.bff.url}/bff/user", headers=XHR).status_code == 401


def test_token_is_refreshed_within_the_skew_of_its_expiry(world: FakeWorld) -> None:
    browser, session = world.login()
    expire_access_token(world.store, session, remaining=30)
    grants = world.provider.refresh_grants
    response = world.echo(browser)
    assert response.status_code == 200
    assert response.json()["token_sha256"] != sha256(session.tokens.access_token)
    assert world.provider.refresh_grants == grants + 1
    world.echo(browser)
    assert world.provider.refresh_grants == grants + 1


def test_skew_longer_than_the_token_lifetime_does_not_refresh_every_request(
        redis_server: RedisServer) -> None:
    short = start_world(redis_server, {"BFF_REFRESH_SKEW": "3600"})
    try:
        short.provider.access_lifetime = 60
        browser, session = short.login()
        grants = short.provider.refresh_grants
        for _ in range(5):
            response = short.echo(browser)
            assert response.status_code == 200
            assert response.json()["token_sha256"] == sha256(session.tokens.access_token)
        assert short.provider.refresh_grants == grants
    finally:
        stop_world(short)


def test_client_credentials_token_is_fetched_once_across_worker_processes(
        redis_server: RedisServer) -> None:
    provider, api = FakeProvider(), EchoApi()
    workers = start_fake_gunicorn(provider, api, redis_server.url)
    try:
        start = threading.Barrier(30)

        def call(_: int) -> requests.Response:
            start.wait()
            return requests.get(f"{workers.url}/api/service/x", headers=XHR, timeout=30)

        with ThreadPoolExecutor(max_workers=30) as pool:
            responses = list(pool.map(call, range(30)))
        assert [r.status_code for r in responses] == [200] * 30, workers.log()[-2000:]
        assert provider.client_grants == 1
        assert {r.json()["token_sha256"] for r in responses} == {
            sha256(provider.issued_access[-1])}
    finally:
        workers.stop()
        provider.stop()
        api.stop()


def test_redis_down_gives_503_json_and_recovery_is_automatic() -> None:
    own_redis = start_redis()
    world = start_world(own_redis, {"BFF_REDIS_TIMEOUT": "0.5"})
    try:
        browser, _ = world.login()
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            for path in ("/bff/user", "/api/echo/x"):
                response = browser.get(f"{world.bff.url}{path}", headers=XHR, timeout=30)
                assert response.status_code == 503
                assert response.json()["error"] == "session_store_unavailable"
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        assert browser.get(f"{world.bff.url}/bff/user", headers=XHR).status_code == 200
        assert world.echo(browser).status_code == 200
    finally:
        stop_world(world)
        own_redis.stop()
