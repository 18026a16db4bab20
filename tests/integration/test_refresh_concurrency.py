"""Invariant 4: refresh is single-flight across threads, processes and instances.

The provider is the real reference authorization server, whose refresh tokens rotate with reuse
detection: a second refresh with the same token would revoke the whole family and break the
session, so "all requests succeed and the family is intact" is itself proof of single flight.
The grants are also counted at the provider: its refresh-token records of the session's family.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bff.authserver.store import PREFIX, AuthStore
from bff.sansio.keyspace import refresh_lock_key
from tests.integration.session_support import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ORDERS_ROUTE,
    KnownStack,
    bff_cookie,
    expire_access_token,
    instance_env,
    start_gunicorn,
    wait_until,
    write_config,
)
from tests.support import XHR, BffProcess, log_in

BURST = 50


@pytest.fixture(scope="module")
def workers(stack: KnownStack) -> Iterator[BffProcess]:
    """The BFF as production runs it: gunicorn, three worker processes, eight threads each."""
    config = write_config(ORDERS_ROUTE.format(api_port=stack.api_port))
    server = start_gunicorn(instance_env(stack, stack.keys, config), workers=3, threads=8)
    try:
        yield server
    finally:
        server.stop()


def family_tokens(auth: AuthStore, family_id: str) -> list[str]:
    """States of every refresh token the provider issued in one login's family."""
    states = []
    for key in auth.redis.scan_iter(match=f"{PREFIX}rt:*", count=1000):
        record = auth.redis.hgetall(key)
        if record.get(b"family_id") == family_id.encode():
            states.append(record[b"state"].decode())
    return sorted(states)


def burst(url: str, cookie: str, count: int,
          timeout: float | tuple[float, float] = 60) -> list[requests.Response | Exception]:
    """``count`` requests released together, each on its own connection."""
    start = threading.Barrier(count)

    def one(_: int) -> requests.Response | Exception:
        with requests.Session() as client:
            client.cookies.set("bff", cookie)
            start.wait()
            try:
                return client.get(url, headers=XHR, timeout=timeout)
            except requests.RequestException as exc:
                return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_fifty_concurrent_requests_with_an_expired_token_cause_exactly_one_refresh(
        stack: KnownStack, workers: BffProcess) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    cookie = bff_cookie(browser)
    assert cookie
    store, auth = stack.store(), stack.auth_store()
    before = stack.session(browser)
    assert before is not None and before.tokens.refresh_token
    spent = before.tokens.refresh_token
    family = auth.refresh_token(spent)
    assert family is not None
    assert family_tokens(auth, family.family_id) == ["active"]
    forced = expire_access_token(store, before)

    results = burst(f"{workers.url}/api/orders", cookie, BURST)

    statuses = [r.status_code if isinstance(r, requests.Response) else repr(r) for r in results]
    assert statuses == [200] * BURST, workers.log()[-3000:]
    assert family_tokens(auth, family.family_id) == ["active", "rotated"]
    assert not auth.family_revoked(family.family_id)
    after = stack.session(browser)
    assert after is not None
    assert after.version == forced.version + 1
    assert after.tokens.refresh_token not in (None, spent)
    assert list(after.tokens.resources) == [f"http://localhost:{stack.api_port}"], \
        "the burst obtained the route's audience-restricted token, once"
    assert not stack.redis.client().exists(refresh_lock_key(after.handle))
    for url in (workers.url, stack.bff_url):
        again = browser.get(f"{url}/api/orders", headers=XHR)
        assert again.status_code == 200, again.text


def test_reuse_detection_was_armed_and_invalid_grant_ends_the_session(
        stack: KnownStack, workers: BffProcess) -> None:
    """Spending a rotated refresh token again makes the provider revoke the family; the
    session then gets ``invalid_grant`` on its next refresh and ends with 401."""
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    store = stack.store()
    first = stack.session(browser)
    assert first is not None and first.tokens.refresh_token
    expire_access_token(store, first)
    assert browser.get(f"{workers.url}/api/orders", headers=XHR).status_code == 200

    replay = requests.post(f"{stack.issuer}/token", data={
        "grant_type": "refresh_token", "refresh_token": first.tokens.refresh_token,
    }, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    current = stack.session(browser)
    assert current is not None
    expire_access_token(store, current)
    ended = browser.get(f"{workers.url}/api/orders", headers=XHR)
    assert ended.status_code == 401
    assert ended.json()["error"] == "login_required"
    assert stack.session(browser) is None
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401


def test_refresh_lock_is_released_when_the_clients_go_away(
        stack: KnownStack, workers: BffProcess) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    cookie = bff_cookie(browser)
    assert cookie
    store, auth = stack.store(), stack.auth_store()
    before = stack.session(browser)
    assert before is not None and before.tokens.refresh_token
    family = auth.refresh_token(before.tokens.refresh_token)
    assert family is not None
    forced = expire_access_token(store, before)

    abandoned = burst(f"{workers.url}/api/orders", cookie, 10, timeout=(5, 0.001))
    # Clients that stop waiting mid-refresh (on a loaded machine one may still be answered).
    assert sum(isinstance(r, requests.Timeout) for r in abandoned) >= 5

    def refreshed_and_unlocked() -> bool:
        current = store.load_handle(forced.handle)
        return bool(current and current.version > forced.version
                    and not stack.redis.client().exists(refresh_lock_key(forced.handle)))

    wait_until(refreshed_and_unlocked, "the abandoned refresh to finish and free its lock")
    assert family_tokens(auth, family.family_id) == ["active", "rotated"]
    assert browser.get(f"{workers.url}/api/orders", headers=XHR).status_code == 200
