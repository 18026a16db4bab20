"""``/bff/user``, the session cookie and the headers on ``/bff/*`` (invariants 1, 3 and 5).

``/bff/user`` shows configured claims and session facts, never a token; ``?slide=false`` reads
without extending the session; the session cookie is ``__Host-``, ``Secure``, ``HttpOnly`` and
``SameSite`` over https; every ``/bff/*`` response is ``no-store`` and grants no CORS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from bff.sansio.keyspace import session_record_key
from tests.integration.fake_provider import EchoApi, FakeProvider, start_fake_bff
from tests.integration.session_support import KnownStack, start_instance
from tests.support import XHR, BffProcess, RedisServer, log_in

ID_TOKEN_PLUMBING = ("nonce", "aud", "iss", "exp", "iat", "azp", "at_hash", "auth_time", "sid",
                     "jti", "amr", "acr")


@pytest.fixture(scope="module")
def alice(stack: KnownStack) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    return browser


def test_user_shows_claims_and_session_facts_but_never_a_token(
        stack: KnownStack, alice: requests.Session) -> None:
    response = alice.get(f"{stack.bff_url}/bff/user", headers=XHR)
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == "alice" and body["name"] == "Alice Liddell"
    assert body["email"] == "alice@example.com"
    assert body["logout_url"].startswith("/bff/logout?sid=")
    session = stack.session(alice)
    assert session is not None
    assert abs(body["session_expires_at"] - session.session_expires_at) <= 2
    assert not set(ID_TOKEN_PLUMBING) & set(body)
    for token in (session.tokens.access_token, session.tokens.refresh_token):
        assert token and token not in response.text
        assert token[-20:] not in response.text


def test_user_claims_allow_list_is_configurable(stack: KnownStack,
                                                alice: requests.Session) -> None:
    narrow = start_instance(stack, stack.keys, config_extra='user_claims = ["name"]\n')
    try:
        body = alice.get(f"{narrow.url}/bff/user", headers=XHR).json()
    finally:
        narrow.stop()
    assert body["name"] == "Alice Liddell"
    assert "email" not in body
    assert body["sub"] == "alice"


def test_user_with_slide_false_reads_without_extending_the_session(
        stack: KnownStack, alice: requests.Session) -> None:
    session = stack.session(alice)
    assert session is not None
    client = stack.redis.client()
    key = session_record_key(session.handle)
    client.pexpire(key, 100_000)
    peek = alice.get(f"{stack.bff_url}/bff/user", params={"slide": "false"}, headers=XHR)
    assert peek.status_code == 200
    assert client.pttl(key) <= 100_000
    assert peek.json()["session_expires_at"] <= time.time() + 101
    touched = alice.get(f"{stack.bff_url}/bff/user", headers=XHR)
    assert client.pttl(key) > 3000_000
    assert touched.json()["session_expires_at"] > time.time() + 3000


def test_user_without_a_session_is_401_json(stack: KnownStack) -> None:
    response = requests.get(f"{stack.bff_url}/bff/user", headers=XHR)
    assert response.status_code == 401
    assert response.json() == {"error": "login_required",
                               "error_description": "You are not logged in."}


@pytest.mark.parametrize("request_args", [
    ("GET", "/bff/user", XHR),
    ("GET", "/bff/user", {}),
    ("GET", "/bff/login?returnUrl=/", {}),
    ("GET", "/bff/login?returnUrl=//evil.example", {}),
    ("GET", "/bff/callback?state=x", {}),
    ("POST", "/bff/logout", XHR),
    ("GET", "/bff/logout", {}),
    ("POST", "/bff/backchannel-logout", {}),
])
def test_bff_responses_are_not_cached_sniffed_or_shared(
        stack: KnownStack, alice: requests.Session,
        request_args: tuple[str, str, dict[str, str]]) -> None:
    method, path, headers = request_args
    response = requests.request(method, f"{stack.bff_url}{path}", allow_redirects=False,
                                headers={**headers, "Origin": "https://evil.example"})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
])
def test_cross_site_reads_are_refused_even_with_the_csrf_header(
        stack: KnownStack, alice: requests.Session, headers: dict[str, str]) -> None:
    for path in ("/bff/user", "/api/orders"):
        response = alice.get(f"{stack.bff_url}{path}", headers={**XHR, **headers})
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_rejected"
        assert "alice" not in response.text.lower()


def test_cors_preflight_is_never_granted(stack: KnownStack) -> None:
    for path in ("/bff/user", "/bff/logout", "/api/orders"):
        response = requests.options(f"{stack.bff_url}{path}", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf"})
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Headers" not in response.headers


@pytest.fixture(scope="module")
def https_bff(redis_server: RedisServer) -> Iterator[BffProcess]:
    """A BFF whose public origin is https (TLS ends at a proxy in front of it)."""
    provider, api = FakeProvider(), EchoApi()
    bff, _ = start_fake_bff(provider, api, redis_server.url,
                            {"BFF_BASE_URL": "https://localhost", "BFF_COOKIE_SAMESITE": "Strict"})
    try:
        yield bff
    finally:
        bff.stop()
        provider.stop()
        api.stop()


def via_http(url: str, port: int) -> str:
    """The https URL the provider redirects to, as the TLS proxy forwards it to the BFF."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"localhost:{port}", parts.path, parts.query, ""))


def test_session_cookie_over_https_is_host_prefixed_secure_httponly_samesite(
        https_bff: BffProcess) -> None:
    browser = requests.Session()
    start = browser.get(f"{https_bff.url}/bff/login", allow_redirects=False)
    binding = start.headers["Set-Cookie"]
    assert "Secure" in binding and "HttpOnly" in binding
    authorize = requests.get(start.headers["Location"], allow_redirects=False)
    callback_url = authorize.headers["Location"]
    assert callback_url.startswith("https://localhost/bff/callback?")
    callback = requests.get(via_http(callback_url, https_bff.port), allow_redirects=False,
                            headers={"Cookie": binding.split(";", 1)[0]})
    assert callback.status_code == 302, callback.text
    cookie = callback.headers["Set-Cookie"]
    name, _, rest = cookie.partition("=")
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in rest.split(";")[1:]}
    assert name == "__Host-bff"
    assert {"secure", "httponly", "path", "samesite"} <= set(attributes)
    assert attributes["path"] == "Path=/"
    assert attributes["samesite"] == "SameSite=Strict"
    assert "domain" not in attributes and "expires" not in attributes
