"""Per-route authorization end to end: the reference provider releases alice's roles for the
``roles`` scope, and the BFF's routes judge them and the login's age."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from tests.integration.scale_support import SCOPES, Stack, Upstream, stack_running
from tests.support import XHR, RedisServer, log_in, submit_login


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, upstream: Upstream) -> Iterator[Stack]:
    routes = f"""
[[routes]]
prefix = "/api/stock"
upstream = "{upstream.url}/stock"
token = "user"
claims = {{ roles = ["stock-viewer"] }}

[[routes]]
prefix = "/api/recent"
upstream = "{upstream.url}/recent"
token = "user"
max_age = 2
"""
    with stack_running(redis_server.url, redis_server.url, extra_routes=routes,
                       extra_settings='user_claims = ["sub", "name", "email", "roles"]',
                       bff_env={"BFF_SCOPES": f"{SCOPES} roles"}) as running:
        yield running


def signed_in(stack: Stack, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, username, password)
    return browser


def test_alice_with_the_role_reaches_the_stock_api(stack: Stack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["roles"] == [
        "stock-viewer"]
    answer = alice.get(f"{stack.bff_url}/api/stock/1", headers=XHR)
    assert answer.status_code == 200
    assert answer.json()["headers"]["Authorization"].startswith("Bearer ")


def test_bob_without_the_role_is_refused_and_the_upstream_never_sees_him(
        stack: Stack, upstream: Upstream) -> None:
    bob = signed_in(stack, "bob", "builder")
    upstream.received.clear()
    answer = bob.get(f"{stack.bff_url}/api/stock/1", headers=XHR)
    assert answer.status_code == 403 and answer.json()["error"] == "insufficient_claims"
    assert not upstream.received.is_set()


def test_a_stale_login_is_sent_through_a_fresh_one_and_then_passes(stack: Stack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    assert alice.get(f"{stack.bff_url}/api/recent/1", headers=XHR).status_code == 200
    time.sleep(3)
    stale = alice.get(f"{stack.bff_url}/api/recent/1", headers=XHR)
    assert stale.status_code == 401
    assert stale.json()["error"] == "reauthentication_required"
    page = alice.get(urljoin(stack.bff_url, stale.json()["login_url"]))
    assert page.url.startswith(stack.issuer), "prompt=login must make the provider ask again"
    submit_login(alice, page, "alice", "wonderland")
    assert alice.get(f"{stack.bff_url}/api/recent/1", headers=XHR).status_code == 200
