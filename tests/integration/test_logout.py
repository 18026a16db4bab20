"""Logout, against the real stack: only the user's own page can trigger it (invariant 5), and it
ends the session everywhere (invariant 3): record deleted, refresh token revoked at the
provider (RFC 7009), the browser sent to the provider's end-session endpoint."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bff.app import create_app
from bff.sessions import SessionStore, TokenSet
from bff.settings import build_settings, generate_secret_key
from tests.integration.session_support import KnownStack, bff_cookie
from tests.support import XHR, RedisServer, free_port, log_in


def logged_in(stack: KnownStack) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    return browser


def still_logged_in(stack: KnownStack, browser: requests.Session) -> bool:
    return browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_logout_without_the_csrf_header_is_refused(stack: KnownStack) -> None:
    browser = logged_in(stack)
    response = browser.post(f"{stack.bff_url}/bff/logout")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_rejected"
    assert still_logged_in(stack, browser)


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null"},
])
def test_cross_site_logout_post_is_refused(stack: KnownStack, headers: dict[str, str]) -> None:
    browser = logged_in(stack)
    response = browser.post(f"{stack.bff_url}/bff/logout", headers={**XHR, **headers})
    assert response.status_code == 403
    assert still_logged_in(stack, browser)


@pytest.mark.parametrize("query", ["", "?sid=", "?sid=0123456789abcdef0123456789abcdef"])
def test_cross_site_get_cannot_log_anyone_out(stack: KnownStack, query: str) -> None:
    """A link or image on another site: without the session's own value, nothing happens."""
    browser = logged_in(stack)
    response = browser.get(f"{stack.bff_url}/bff/logout{query}", allow_redirects=False,
                           headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert still_logged_in(stack, browser)


def test_logout_link_followed_from_another_site_is_refused(stack: KnownStack) -> None:
    browser = logged_in(stack)
    logout_url = browser.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["logout_url"]
    response = browser.get(f"{stack.bff_url}{logout_url}", allow_redirects=False,
                           headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert still_logged_in(stack, browser)


def test_logout_url_of_another_session_does_not_work_here(stack: KnownStack) -> None:
    other = logged_in(stack)
    other_url = other.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["logout_url"]
    browser = logged_in(stack)
    response = browser.get(f"{stack.bff_url}{other_url}", allow_redirects=False)
    assert response.status_code == 403
    assert still_logged_in(stack, browser) and still_logged_in(stack, other)


def assert_ended_everywhere(stack: KnownStack, browser: requests.Session, refresh_token: str,
                            access_token: str, cookie: str) -> None:
    assert not still_logged_in(stack, browser)
    assert stack.store().load(cookie, slide=False) is None
    replay = requests.Session()
    replay.cookies.set("bff", cookie)
    assert replay.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    assert stack.introspect(refresh_token)["active"] is False
    assert stack.introspect(access_token)["active"] is False


def assert_end_session_url(stack: KnownStack, url: str) -> None:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == stack.issuer
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert "id_token_hint" not in params
    assert "eyJ" not in url, "no JWT (ID token) in a front-channel URL"
    assert params["client_id"] == "bff-demo"
    assert params["logout_hint"]
    assert params["post_logout_redirect_uri"] == f"{stack.bff_url}/"


def test_logout_ends_the_session_revokes_the_refresh_token_and_goes_to_the_provider(
        stack: KnownStack) -> None:
    browser = logged_in(stack)
    cookie = bff_cookie(browser)
    session = stack.session(browser)
    assert cookie and session is not None and session.tokens.refresh_token
    assert stack.introspect(session.tokens.refresh_token)["active"] is True

    response = browser.post(f"{stack.bff_url}/bff/logout", headers=XHR)
    assert response.status_code == 200
    assert "bff=;" in response.headers["Set-Cookie"] or 'bff="";' in response.headers["Set-Cookie"]
    assert_end_session_url(stack, response.json()["redirect"])
    assert_ended_everywhere(stack, browser, session.tokens.refresh_token,
                            session.tokens.access_token, cookie)


def test_logout_url_from_user_logs_out_and_the_provider_session_ends(stack: KnownStack) -> None:
    browser = logged_in(stack)
    cookie = bff_cookie(browser)
    session = stack.session(browser)
    assert cookie and session is not None and session.tokens.refresh_token
    logout_url = browser.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["logout_url"]

    response = browser.get(f"{stack.bff_url}{logout_url}", allow_redirects=False,
                           headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 302
    assert_end_session_url(stack, response.headers["Location"])
    assert_ended_everywhere(stack, browser, session.tokens.refresh_token,
                            session.tokens.access_token, cookie)

    landing = browser.get(response.headers["Location"])
    assert landing.url == f"{stack.bff_url}/"
    silent = browser.get(f"{stack.bff_url}/bff/login", params={"prompt": "none"},
                         allow_redirects=False)
    back = browser.get(silent.headers["Location"], allow_redirects=False)
    assert "error=login_required" in back.headers["Location"]


def test_logout_without_a_session_just_lands(stack: KnownStack) -> None:
    response = requests.post(f"{stack.bff_url}/bff/logout", headers=XHR)
    assert response.status_code == 200
    assert response.json()["redirect"] == "/"


def test_logout_while_the_provider_was_never_reached_still_ends_the_session_and_the_cookie(
        redis_server: RedisServer) -> None:
    """A fresh BFF process (no discovery cached) and the provider down: logout used to delete
    the session and answer 503 without clearing the cookie. It must finish its work."""
    settings = build_settings({
        "base_url": "http://localhost:8000", "issuer": f"http://127.0.0.1:{free_port()}",
        "client_id": "bff", "client_secret": "s", "secret_keys": generate_secret_key(),
        "redis_url": redis_server.url, "provider_timeout": 1.0})
    app = create_app(settings)
    store: SessionStore = app.extensions["bff"].store
    now = time.time()
    session_id, session = store.create(
        TokenSet(access_token="a", refresh_token="r", access_expires_at=now + 300,
                 access_issued_at=now, scope=("openid",)), sub="alice", sid=None, claims={})
    client = app.test_client()
    client.set_cookie("bff", session_id)
    answer = client.post("/bff/logout", headers=XHR)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json == {"redirect": "/"}
    assert any(h.startswith("bff=;") for h in answer.headers.getlist("Set-Cookie"))
    assert store.load_handle(session.handle) is None
