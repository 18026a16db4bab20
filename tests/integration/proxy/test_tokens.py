"""Which token reaches which upstream, refresh after an upstream's invalid_token, and the errors
the proxy answers with."""

from __future__ import annotations

import json
import secrets
import time

import jwt
import requests

from bff.sessions import TokenSet
from tests.integration.proxy.harness import (
    CLIENT_ID,
    JWT_SHAPE,
    Stack,
)
from tests.support import (
    XHR,
    BffProcess,
)

# --- tokens -----------------------------------------------------------------------------------

def test_a_user_route_without_a_session_is_401_login_required(stack: Stack) -> None:
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/orders/1", headers=XHR)
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert len(stack.upstream.seen) == before


def test_a_session_without_the_route_scope_is_403(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/admin-only/x", headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert len(stack.upstream.seen) == before


def test_a_none_route_carries_no_token_even_with_a_session(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    response = requests.get(f"{stack.url}/api/public/none", cookies={"bff": cookie},
                            headers={**XHR, "Authorization": "Bearer from-the-browser"})
    assert response.status_code == 200
    seen = stack.upstream.seen_under("/public/none")[-1]
    assert "authorization" not in seen.names()
    assert token not in json.dumps(seen.headers)


def test_a_client_route_carries_a_client_credentials_token(stack: Stack) -> None:
    cookie, user_token, _ = stack.plant_session()
    first = requests.get(f"{stack.url}/api/service/a", headers=XHR, cookies={"bff": cookie})
    second = requests.get(f"{stack.url}/api/service/b", headers=XHR)
    assert first.status_code == second.status_code == 200
    bearers = [s.header("Authorization")[0].removeprefix("Bearer ")
               for s in stack.upstream.seen_under("/service/")]
    assert bearers[0] == bearers[1] != user_token
    keys = jwt.PyJWKClient(f"{stack.settings.issuer}/jwks")
    claims = jwt.decode(bearers[0], keys.get_signing_key_from_jwt(bearers[0]).key,
                        algorithms=["RS256", "ES256"], audience="demo-api",
                        issuer=stack.settings.issuer)
    assert claims["client_id"] == CLIENT_ID
    assert claims["sub"] != "planted-user"


def test_user_or_none_and_user_or_client_routes(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    requests.get(f"{stack.url}/api/maybe/anonymous", headers=XHR)
    requests.get(f"{stack.url}/api/maybe/user", headers=XHR, cookies={"bff": cookie})
    requests.get(f"{stack.url}/api/either/anonymous", headers=XHR)
    requests.get(f"{stack.url}/api/either/user", headers=XHR, cookies={"bff": cookie})
    up = stack.upstream
    assert "authorization" not in up.seen_under("/maybe/anonymous")[-1].names()
    assert up.seen_under("/maybe/user")[-1].header("Authorization") == [f"Bearer {token}"]
    client_bearer = up.seen_under("/either/anonymous")[-1].header("Authorization")[0]
    assert JWT_SHAPE.fullmatch(client_bearer.removeprefix("Bearer "))
    assert up.seen_under("/either/user")[-1].header("Authorization") == [f"Bearer {token}"]


def test_a_token_due_for_refresh_is_refreshed_before_it_is_sent(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    session = stack.session_of(browser)
    old = session.tokens
    now = time.time()
    due = TokenSet(access_token=old.access_token, refresh_token=old.refresh_token,
                   access_expires_at=now + 5,
                   access_issued_at=now - 895, scope=old.scope)
    assert stack.store.replace_tokens(session, due) is not None
    response = browser.get(f"{stack.url}/api/orders/fresh", headers=XHR)
    assert response.status_code == 200
    sent = stack.upstream.seen_under("/orders/fresh")[-1].header("Authorization")
    refreshed = stack.session_of(browser).tokens
    assert refreshed.access_token != old.access_token
    assert sent == [f"Bearer {refreshed.access_token}"]


def test_upstream_401_invalid_token_refreshes_and_retries_a_get_once(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    stack.upstream.rejected_tokens.add(before.tokens.access_token)
    response = browser.get(f"{stack.url}/api/orders/retry-get/protected", headers=XHR)
    assert response.status_code == 200
    after = stack.session_of(browser)
    bearers = [s.header("Authorization")[0]
               for s in stack.upstream.seen_under("/orders/retry-get/")]
    assert bearers == [f"Bearer {before.tokens.access_token}",
                       f"Bearer {after.tokens.access_token}"]
    assert after.tokens.access_token != before.tokens.access_token
    assert after.version == before.version + 1


def test_a_get_is_retried_only_once_when_the_new_token_is_refused_too(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    response = browser.get(f"{stack.url}/api/orders/retry-twice/protected?always=1",
                           headers=XHR)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}
    assert len(stack.upstream.seen_under("/orders/retry-twice/")) == 2
    assert stack.session_of(browser).version == before.version + 1


def test_upstream_401_on_a_post_is_passed_through_without_retry(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    stack.upstream.rejected_tokens.add(before.tokens.access_token)
    response = browser.post(f"{stack.url}/api/orders/retry-post/protected", headers=XHR,
                            json={"item": "tea"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}
    assert "WWW-Authenticate" not in response.headers
    seen = stack.upstream.seen_under("/orders/retry-post/")
    assert len(seen) == 1 and seen[0].body_bytes == len(b'{"item": "tea"}')
    after = stack.session_of(browser)
    assert after.version == before.version
    assert after.tokens.access_token == before.tokens.access_token



# --- errors -----------------------------------------------------------------------------------

def test_upstream_status_codes_and_bodies_pass_through_untouched(stack: Stack) -> None:
    teapot = requests.get(f"{stack.url}/api/public/teapot", headers=XHR)
    assert teapot.status_code == 418
    assert teapot.text == "short and stout"
    assert teapot.headers["X-Upstream"] == "1"
    broken = requests.post(f"{stack.url}/api/public/broken", headers=XHR, data=b"x")
    assert broken.status_code == 500
    assert broken.json() == {"upstream": "exploded"}


def test_an_unreachable_upstream_is_502_json(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/down/x", headers=XHR)
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unavailable"
    assert set(response.json()) == {"error", "error_description"}


def test_a_slow_upstream_is_504_within_the_read_timeout(stack: Stack, front: BffProcess) -> None:
    name = secrets.token_hex(4)
    gate = stack.upstream.gate(name)
    try:
        started = time.monotonic()
        response = requests.get(f"{front.url}/api/slow/slow?gate={name}", headers=XHR,
                                timeout=20)
        elapsed = time.monotonic() - started
    finally:
        gate.set()
    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"
    assert elapsed < 5, f"504 took {elapsed:.1f}s for a 0.5s read timeout"


def test_a_body_over_the_route_limit_is_413(stack: Stack, front: BffProcess) -> None:
    before = len(stack.upstream.seen_under("/small"))
    declared = requests.post(f"{front.url}/api/small/x", headers=XHR, data=b"a" * 2048)
    assert declared.status_code == 413
    assert declared.json()["error"] == "payload_too_large"
    assert len(stack.upstream.seen_under("/small")) == before
    chunked = requests.post(f"{front.url}/api/small/x", headers=XHR,
                            data=iter([b"a" * 1000, b"b" * 1000, b"c" * 1000]))
    assert chunked.status_code == 413
    assert chunked.json()["error"] == "payload_too_large"
    within = requests.post(f"{front.url}/api/small/x", headers=XHR, data=b"a" * 1024)
    assert within.status_code == 200 and within.json()["body_bytes"] == 1024


