"""Audience-restricted tokens per route (RFC 8707) end to end: the reference provider issues a
token for exactly the resource a route names, each upstream receives only its own, a burst
after expiry makes one grant, and a resource the provider refuses costs that route, not the
session."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from bff.demo import render_ports
from tests.integration.scale_support import (
    Stack,
    Upstream,
    bff_toml,
    metric,
    session_cookie,
    session_record,
    stack_running,
)
from tests.support import XHR, RedisServer, asked_of_provider, log_in

ORDERS = "http://localhost:8002"
STOCK = "http://localhost:8003"
LIFETIME = 8


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, upstream: Upstream) -> Iterator[Stack]:
    routes = f"""
[[routes]]
prefix = "/api/aud-orders"
upstream = "{upstream.url}/orders"
resource = "{ORDERS}"

[[routes]]
prefix = "/api/aud-stock"
upstream = "{upstream.url}/stock"
resource = "{STOCK}"

[[routes]]
prefix = "/api/plain"
upstream = "{upstream.url}/plain"
"""
    with stack_running(redis_server.url, redis_server.url, bff_count=2, extra_routes=routes,
                       auth_env={"BFF_AUTHSERVER_ACCESS_TOKEN_LIFETIME": str(LIFETIME)}
                       ) as running:
        yield running


def resources(stack: Stack) -> tuple[str, str]:
    """The demo ports as rendered for this stack."""
    return f"http://localhost:{stack.port + 2}", f"http://localhost:{stack.port + 3}"


def bearer_seen(browser: requests.Session, url: str) -> dict[str, object]:
    answer = browser.get(url, headers=XHR)
    assert answer.status_code == 200, answer.text
    scheme, _, token = answer.json()["headers"]["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return {"token": token, **jwt.decode(token, options={"verify_signature": False})}


def test_the_login_asks_the_provider_for_every_resource_the_routes_name(
        stack: Stack, redis_server: RedisServer) -> None:
    start = requests.get(f"{stack.bff_url}/bff/login", allow_redirects=False)
    asked = asked_of_provider(start.headers["Location"], redis_server.client())
    assert sorted(asked["resource"]) == sorted(resources(stack))


def test_each_upstream_receives_a_token_for_itself_alone(stack: Stack) -> None:
    alice = requests.Session()
    log_in(alice, stack.bff_url, "alice", "wonderland")
    orders_resource, stock_resource = resources(stack)
    orders = bearer_seen(alice, f"{stack.bff_url}/api/aud-orders/1")
    stock = bearer_seen(alice, f"{stack.bff_url}/api/aud-stock/1")
    plain = bearer_seen(alice, f"{stack.bff_url}/api/plain/1")
    assert orders["aud"] == orders_resource
    assert stock["aud"] == stock_resource
    assert plain["aud"] not in (orders_resource, stock_resource)
    assert len({orders["token"], stock["token"], plain["token"]}) == 3
    assert orders["sub"] == stock["sub"] == plain["sub"]
    again = bearer_seen(alice, f"{stack.bff_url}/api/aud-orders/2")
    assert again["token"] == orders["token"], "a held resource token is reused, not re-fetched"


def test_a_burst_after_the_resource_token_expired_makes_one_grant(
        stack: Stack, upstream: Upstream) -> None:
    alice = requests.Session()
    log_in(alice, stack.bff_url, "alice", "wonderland")
    first = bearer_seen(alice, f"{stack.bff_url}/api/aud-stock/1")
    time.sleep(LIFETIME / 2 + 0.5)  # due: the skew is capped at half the lifetime
    instances = [stack.bff_url, stack.bffs[1].url]
    before = sum(metric(url, "bff_token_refreshes_total", outcome="refreshed") for url in instances)
    cookie = {"bff": session_cookie(alice)}

    def call(i: int) -> tuple[int, str]:
        answer = requests.get(f"{instances[i % 2]}/api/aud-stock/{i}", cookies=cookie,
                              headers=XHR, timeout=30)
        return answer.status_code, answer.json()["headers"]["Authorization"]

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(call, range(50)))
    after = sum(metric(url, "bff_token_refreshes_total", outcome="refreshed") for url in instances)
    assert {status for status, _ in results} == {200}
    assert after - before == 1, "one grant for the session and resource, across instances"
    assert len({bearer for _, bearer in results}) == 1
    assert results[0][1] != f"Bearer {first['token']}"


def other_bff(stack: Stack, routes: str) -> str:
    """Another instance on the same store, public origin and provider, whose routes (and so
    whose login) name other resources: a deployment changing its routes under live sessions."""
    config = stack.workdir / f"other-{len(stack.bffs)}.toml"
    config.write_text(render_ports(bff_toml(stack.port, routes), stack.port))
    return stack.start_bff(config=config).url


def test_a_resource_not_granted_at_login_costs_the_route_not_the_session(
        stack: Stack, upstream: Upstream) -> None:
    """The session began where the routes named only the orders API; now a route wants a
    token for the stock API, which that grant never covered: the provider says invalid_target."""
    before = other_bff(stack, f"""
[[routes]]
prefix = "/api/aud-orders"
upstream = "{upstream.url}/orders"
resource = "{ORDERS}"
""")
    alice = requests.Session()
    log_in(alice, before, "alice", "wonderland")
    upstream.received.clear()
    refused = alice.get(f"{stack.bff_url}/api/aud-stock/1", headers=XHR)
    assert refused.status_code == 502
    assert refused.json()["error"] == "token_unavailable"
    assert "/api/aud-stock" in refused.json()["error_description"]
    assert not upstream.received.is_set(), "no request without the token the route requires"
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    assert bearer_seen(alice, f"{stack.bff_url}/api/aud-orders/1")["aud"] == resources(stack)[0]


def test_a_resource_the_provider_does_not_know_fails_the_login_with_a_readable_reason(
        stack: Stack, upstream: Upstream) -> None:
    unknown = other_bff(stack, f"""
[[routes]]
prefix = "/api/elsewhere"
upstream = "{upstream.url}/elsewhere"
resource = "https://not-registered.example/api"
""")
    browser = requests.Session()
    page = browser.get(f"{unknown}/bff/login")
    assert page.status_code == 400, page.url
    assert "invalid_target" in page.text and "resource indicator" in page.text


def test_resource_tokens_are_sealed_and_the_record_stays_small(
        stack: Stack, redis_server: RedisServer) -> None:
    alice = requests.Session()
    log_in(alice, stack.bff_url, "alice", "wonderland")
    for path in ("aud-orders", "aud-stock"):
        token = bearer_seen(alice, f"{stack.bff_url}/api/{path}/1")["token"]
    record = session_record(redis_server.client(), alice)
    assert record is not None
    raw = json.dumps(record)
    assert str(token) not in raw and resources(stack)[1] not in raw
    assert len(raw) < 3 * 1024, f"the session record takes {len(raw)} bytes with two resources"
