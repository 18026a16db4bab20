"""Per-route authorization on claims and login freshness, against the real proxy stack: the
upstream is never contacted when a rule fails."""

from __future__ import annotations

import time

import requests

from tests.integration.proxy.harness import Stack
from tests.support import XHR, RedisServer, asked_of_provider


def call(stack: Stack, path: str, cookie: str, **headers: str) -> requests.Response:
    return requests.get(f"{stack.url}{path}", headers={**XHR, **headers},
                        cookies={"bff": cookie}, timeout=10)


def test_a_route_requiring_a_role_refuses_a_user_without_it(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(roles=["viewer"])
    before = len(stack.upstream.seen_under("/role-only"))
    answer = call(stack, "/api/role-only/x", cookie)
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_claims"
    assert len(stack.upstream.seen_under("/role-only")) == before


def test_a_route_requiring_a_role_serves_a_user_with_it(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session(roles=["viewer", "admin"])
    answer = call(stack, "/api/role-only/x", cookie)
    assert answer.status_code == 200
    assert stack.upstream.seen_under("/role-only/x")[-1].header("Authorization") == [
        f"Bearer {token}"]


def test_a_stale_login_must_authenticate_again_and_is_told_where(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(auth_time=time.time() - 3600)
    before = len(stack.upstream.seen_under("/fresh"))
    answer = call(stack, "/api/fresh/x", cookie, Referer=f"{stack.url}/stock?tab=2")
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "reauthentication_required"
    assert body["login_url"] == "/bff/login?returnUrl=%2Fstock%3Ftab%3D2&prompt=login&max_age=60"
    assert len(stack.upstream.seen_under("/fresh")) == before


def test_a_referer_from_another_site_does_not_choose_the_return_page(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(auth_time=time.time() - 3600)
    answer = call(stack, "/api/fresh/x", cookie, Referer="https://evil.example/phish")
    assert answer.json()["login_url"].startswith("/bff/login?returnUrl=%2F&")


def test_a_fresh_login_passes(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(auth_time=time.time() - 5)
    assert call(stack, "/api/fresh/x", cookie).status_code == 200


def test_the_reauthentication_link_asks_the_provider_for_a_fresh_login(
        stack: Stack, redis_server: RedisServer) -> None:
    answer = requests.get(f"{stack.url}/bff/login", params={
        "returnUrl": "/stock", "prompt": "login", "max_age": "60"}, allow_redirects=False,
        timeout=10)
    assert answer.status_code == 302
    asked = asked_of_provider(answer.headers["Location"], redis_server.client())
    assert asked["prompt"] == ["login"] and asked["max_age"] == ["60"]


def test_a_malformed_max_age_on_login_is_refused(stack: Stack) -> None:
    for bad in ("-1", "1e3", "٣", "99999999999"):
        answer = requests.get(f"{stack.url}/bff/login", params={"max_age": bad},
                              headers=XHR, allow_redirects=False, timeout=10)
        assert answer.status_code == 400, bad
