"""The BFF against django-oauth-toolkit (DOT), a provider we did not write, each started as a
real process: DOT's own login page, claims only in its userinfo, refresh-token rotation with
reuse protection, revocation found through RFC 8414 metadata in both layouts, a client secret
with ``+ / % =`` and a space over ``client_secret_basic``, a provider that takes only
``client_secret_post``, and an issuer with a trailing slash. Each failed before the fixes of
issue 13."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bff.settings import generate_secret_key
from tests.integration.scale_support import (
    Upstream,
    make_refresh_due,
    session_cookie,
    session_record,
)
from tests.integration.session_support import store_for
from tests.support import XHR, BffProcess, RedisServer, free_port, start_bff, start_process

DOT_DIR = Path(__file__).resolve().parent / "dot_provider"
CLIENT_ID = "bff-interop"
AWKWARD_SECRET = "a+b/c%d=e f"


@dataclass
class Provider:
    process: BffProcess
    issuer: str
    secret: str

    def token(self, **data: str) -> requests.Response:
        """A token request with the client's credentials in the body (DOT takes both)."""
        return requests.post(f"{self.issuer.rstrip('/')}/token/", data={
            "client_id": CLIENT_ID, "client_secret": self.secret, **data}, timeout=10)


@dataclass
class Pair:
    provider: Provider
    bff: BffProcess
    keys: str


def start_provider(port: int, bff_url: str, secret: str, **env: str) -> Provider:
    database = Path(tempfile.mkdtemp(prefix="bff-dot-")) / "dot.sqlite3"
    process = start_process(
        [sys.executable, str(DOT_DIR / "serve.py")], port, {
            "DOT_PORT": str(port), "DOT_DATABASE": str(database), "DOT_CLIENT_ID": CLIENT_ID,
            "DOT_CLIENT_SECRET": secret, "DOT_REDIRECT_URI": f"{bff_url}/bff/callback",
            "DOT_POST_LOGOUT_URI": f"{bff_url}/", **env},
        ready_path="/o/.well-known/openid-configuration", timeout=60,
        name="django-oauth-toolkit")
    issuer = env.get("DOT_ISSUER") or f"http://localhost:{port}/o"
    return Provider(process=process, issuer=issuer, secret=secret)


def start_pair(redis: RedisServer, upstream: Upstream, tmp: Path, *, secret: str,
               provider_env: dict[str, str], bff_env: dict[str, str],
               issuer_path: str = "/o") -> Iterator[Pair]:
    dot_port, bff_port = free_port(), free_port()
    bff_url = f"http://localhost:{bff_port}"
    provider = start_provider(dot_port, bff_url, secret, **{
        k: v.replace("{port}", str(dot_port)) for k, v in provider_env.items()})
    keys = generate_secret_key()
    routes = tmp / "routes.toml"
    routes.write_text(f'[[routes]]\nprefix = "/api/echo"\nupstream = "{upstream.url}/echo"\n'
                      'token = "user"\n')
    try:
        bff = start_bff(["serve", "--config", str(routes), "--port", str(bff_port)], bff_port, {
            "BFF_BASE_URL": bff_url, "BFF_ISSUER": provider.issuer, "BFF_CLIENT_ID": CLIENT_ID,
            "BFF_CLIENT_SECRET": secret, "BFF_SECRET_KEYS": keys,
            "BFF_REDIS_URL": redis.url, "BFF_SCOPES": "openid profile email",
            "PYTHONUNBUFFERED": "1", **bff_env})
    except BaseException:
        provider.process.stop()
        raise
    try:
        yield Pair(provider=provider, bff=bff, keys=keys)
    finally:
        bff.stop()
        provider.process.stop()


@pytest.fixture(scope="module")
def basic(redis_server: RedisServer, upstream: Upstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """DOT as deployed under /o/ (RFC 8414 metadata only after the issuer's path), the BFF
    forced to client_secret_basic with a provider-generated-looking secret."""
    yield from start_pair(redis_server, upstream, tmp_path_factory.mktemp("dot-basic"),
                          secret=AWKWARD_SECRET, provider_env={},
                          bff_env={"BFF_CLIENT_AUTH": "client_secret_basic"})


@pytest.fixture(scope="module")
def post_only(redis_server: RedisServer, upstream: Upstream,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """DOT accepting only client_secret_post, RFC 8414 metadata at the root (path insertion),
    and an issuer written with a trailing slash; the BFF left to choose from discovery."""
    yield from start_pair(redis_server, upstream, tmp_path_factory.mktemp("dot-post"),
                          secret="post-only-secret", provider_env={
                              "DOT_AUTH_METHODS": "client_secret_post", "DOT_POST_ONLY": "1",
                              "DOT_METADATA_AT_ROOT": "1",
                              "DOT_ISSUER": "http://localhost:{port}/o/"},
                          bff_env={})


def log_in(pair: Pair) -> requests.Session:
    """Through DOT's own login page, as a browser: follow redirects, post its form."""
    browser = requests.Session()
    page = browser.get(f"{pair.bff.url}/bff/login", params={"returnUrl": "/"}, timeout=10)
    assert "/accounts/login/" in page.url, page.text[:300]
    csrf = browser.cookies["dot_csrf"]
    landing = browser.post(page.url, data={
        "csrfmiddlewaretoken": csrf, "username": "alice", "password": "wonderland",
        "next": requests.utils.unquote(page.url.split("next=", 1)[1])},
        headers={"Referer": page.url}, timeout=10)
    assert landing.url.startswith(pair.bff.url), (landing.status_code, landing.text[:300])
    return browser


def test_login_through_dot_with_a_secret_full_of_reserved_characters_over_basic(
        basic: Pair) -> None:
    """RFC 6749 2.3.1: DOT decodes the Basic credentials as form-urlencoded; Authlib's raw
    encoding made DOT answer invalid_client and every login fail."""
    browser = log_in(basic)
    user = browser.get(f"{basic.bff.url}/bff/user", headers=XHR, timeout=10)
    assert user.status_code == 200, user.text


def test_claims_only_in_userinfo_reach_bff_user(basic: Pair) -> None:
    browser = log_in(basic)
    user = browser.get(f"{basic.bff.url}/bff/user", headers=XHR, timeout=10).json()
    assert user["name"] == "Alice Liddell" and user["email"] == "alice@example.test"


def test_proxied_call_and_refresh_with_rotation_and_reuse_protection(
        basic: Pair, redis_server: RedisServer) -> None:
    browser = log_in(basic)
    first = browser.get(f"{basic.bff.url}/api/echo/1", headers=XHR, timeout=10)
    assert first.status_code == 200 and first.json()["headers"]["Authorization"].startswith(
        "Bearer ")
    before = session_record(redis_server.client(), browser)
    spent = refresh_token_of(basic, redis_server, browser)
    make_refresh_due(redis_server.client(), session_cookie(browser), expires_in=-1)
    second = browser.get(f"{basic.bff.url}/api/echo/2", headers=XHR, timeout=10)
    assert second.status_code == 200, second.text
    after = session_record(redis_server.client(), browser)
    assert after["v"] == before["v"] + 1
    assert second.json()["headers"]["Authorization"] != first.json()["headers"]["Authorization"]
    assert refresh_token_of(basic, redis_server, browser) != spent
    reused = basic.provider.token(grant_type="refresh_token", refresh_token=spent)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def refresh_token_of(pair: Pair, redis_server: RedisServer, browser: requests.Session) -> str:
    """The session's refresh token, opened with the BFF's own key as only the BFF can."""
    session = store_for(redis_server.client(), pair.keys).load(session_cookie(browser),
                                                                slide=False)
    assert session is not None and session.tokens.refresh_token
    return session.tokens.refresh_token


@pytest.mark.parametrize("layout", ["basic", "post_only"])
def test_logout_revokes_the_refresh_token_found_through_rfc8414_metadata(
        layout: str, request: pytest.FixtureRequest, redis_server: RedisServer) -> None:
    """DOT lists revocation_endpoint only in its RFC 8414 metadata, and its refresh tokens never
    expire by default: before, logout left them valid without a word."""
    pair: Pair = request.getfixturevalue(layout)
    browser = log_in(pair)
    refresh_token = refresh_token_of(pair, redis_server, browser)
    logout = browser.post(f"{pair.bff.url}/bff/logout", headers=XHR, timeout=10)
    assert logout.status_code == 200
    assert "could not revoke" not in pair.bff.log()
    after = pair.provider.token(grant_type="refresh_token", refresh_token=refresh_token)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_a_provider_that_takes_only_client_secret_post_and_a_trailing_slash_issuer(
        post_only: Pair) -> None:
    browser = log_in(post_only)
    user = browser.get(f"{post_only.bff.url}/bff/user", headers=XHR, timeout=10)
    assert user.status_code == 200 and user.json()["email"] == "alice@example.test"
