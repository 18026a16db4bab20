"""The BFF against panva's oidc-provider (certified, npm), with its own defaults: its dev login
and consent pages, profile and email only from userinfo (``conformIdTokenClaims``), JWT access
tokens for a resource indicator, refresh rotation, revocation and RP-initiated logout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import jwt
import pytest
import requests

from bff.settings import generate_secret_key
from tests.integration.scale_support import (
    Upstream,
    check_config,
    make_refresh_due,
    session_cookie,
    session_record,
)
from tests.integration.session_support import store_for
from tests.interop.node_support import npm_installed
from tests.support import (
    XHR,
    BffProcess,
    RedisServer,
    free_port,
    parse_form,
    start_bff,
    start_process,
)

SECRET = "oidc-provider-secret"
RESOURCE = "https://orders.example.test"
STOCK = "https://stock.example.test"


@dataclass
class Stack:
    provider: BffProcess
    bff: BffProcess
    keys: str

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.provider.port}"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, upstream: Upstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = npm_installed("oidc_provider")
    provider_port, bff_port = free_port(), free_port()
    bff_url = f"http://localhost:{bff_port}"
    provider = start_process(["node", str(folder / "server.mjs"), str(provider_port), bff_url,
                              SECRET, RESOURCE, STOCK], provider_port,
                             ready_path="/.well-known/openid-configuration", name="oidc-provider")
    keys = generate_secret_key()
    routes = tmp_path_factory.mktemp("oidc-provider") / "routes.toml"
    routes.write_text(f"""
[[routes]]
prefix = "/api/echo"
upstream = "{upstream.url}/echo"
resource = "{RESOURCE}"

[[routes]]
prefix = "/api/stock"
upstream = "{upstream.url}/stock"
resource = "{STOCK}"
""")
    try:
        bff = start_bff(["serve", "--config", str(routes), "--port", str(bff_port)], bff_port, {
            "BFF_BASE_URL": bff_url, "BFF_ISSUER": f"http://localhost:{provider_port}",
            "BFF_CLIENT_ID": "bff-interop", "BFF_CLIENT_SECRET": SECRET,
            "BFF_SECRET_KEYS": keys, "BFF_REDIS_URL": redis_server.url,
            "BFF_SCOPES": "openid profile email offline_access orders:read",
            "PYTHONUNBUFFERED": "1"})
    except BaseException:
        provider.stop()
        raise
    try:
        yield Stack(provider=provider, bff=bff, keys=keys)
    finally:
        bff.stop()
        provider.stop()


def log_in(stack: Stack) -> requests.Session:
    """Through oidc-provider's own login and consent pages, as a browser would."""
    browser = requests.Session()
    page = browser.get(f"{stack.bff.url}/bff/login", params={"returnUrl": "/"}, timeout=10)
    for _ in range(4):
        if page.url.startswith(stack.bff.url):
            return browser
        form = parse_form(page.text)
        assert form.action is not None, (page.url, page.text[:300])
        fields = {**form.fields, "login": "alice", "password": "any"}
        page = browser.post(urljoin(page.url, form.action), data=fields, timeout=10)
    raise AssertionError(f"the login never came back to the BFF: {page.url}")


def test_login_and_claims_that_oidc_provider_gives_only_from_userinfo(stack: Stack) -> None:
    user = log_in(stack).get(f"{stack.bff.url}/bff/user", headers=XHR, timeout=10).json()
    assert user["sub"] == "alice"
    assert user["name"] == "Alice Liddell" and user["email"] == "alice@example.test"


def test_the_upstream_receives_a_jwt_for_the_resource_it_can_verify(stack: Stack) -> None:
    browser = log_in(stack)
    answer = browser.get(f"{stack.bff.url}/api/echo/1", headers=XHR, timeout=10)
    assert answer.status_code == 200
    token = answer.json()["headers"]["Authorization"].removeprefix("Bearer ")
    keys = jwt.PyJWKClient(f"{stack.issuer}/jwks")
    claims = jwt.decode(token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                        audience=RESOURCE, issuer=stack.issuer)
    assert claims["sub"] == "alice" and "orders:read" in claims["scope"].split()


def test_a_route_naming_a_resource_gets_a_token_for_that_resource_alone(stack: Stack) -> None:
    browser = log_in(stack)
    keys = jwt.PyJWKClient(f"{stack.issuer}/jwks")
    seen = {}
    for path, audience in (("stock", STOCK), ("echo", RESOURCE)):
        answer = browser.get(f"{stack.bff.url}/api/{path}/1", headers=XHR, timeout=10)
        assert answer.status_code == 200, answer.text
        token = answer.json()["headers"]["Authorization"].removeprefix("Bearer ")
        seen[path] = jwt.decode(token, keys.get_signing_key_from_jwt(token).key,
                                algorithms=["RS256"], audience=audience, issuer=stack.issuer)
    assert seen["stock"]["aud"] == STOCK and seen["echo"]["aud"] == RESOURCE
    assert seen["stock"]["jti"] != seen["echo"]["jti"]


def refresh_token_of(stack: Stack, redis_server: RedisServer, browser: requests.Session) -> str:
    session = store_for(redis_server.client(), stack.keys).load(session_cookie(browser),
                                                                 slide=False)
    assert session is not None and session.tokens.refresh_token
    return session.tokens.refresh_token


def token_endpoint(stack: Stack, **data: str) -> requests.Response:
    return requests.post(f"{stack.issuer}/token", data=data, auth=("bff-interop", SECRET),
                         timeout=10)


def test_refresh_rotates_the_refresh_token(stack: Stack, redis_server: RedisServer) -> None:
    browser = log_in(stack)
    spent = refresh_token_of(stack, redis_server, browser)
    version = session_record(redis_server.client(), browser)["v"]
    make_refresh_due(redis_server.client(), session_cookie(browser), expires_in=-1)
    assert browser.get(f"{stack.bff.url}/api/echo/2", headers=XHR, timeout=10).status_code == 200
    assert session_record(redis_server.client(), browser)["v"] == version + 1
    assert refresh_token_of(stack, redis_server, browser) != spent
    reused = token_endpoint(stack, grant_type="refresh_token", refresh_token=spent)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_logout_revokes_and_sends_the_browser_to_the_end_session_endpoint(
        stack: Stack, redis_server: RedisServer) -> None:
    browser = log_in(stack)
    refresh_token = refresh_token_of(stack, redis_server, browser)
    logout = browser.post(f"{stack.bff.url}/bff/logout", headers=XHR, timeout=10)
    assert logout.status_code == 200
    assert logout.json()["redirect"].startswith(f"{stack.issuer}/session/end")
    after = token_endpoint(stack, grant_type="refresh_token", refresh_token=refresh_token)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert browser.get(f"{stack.bff.url}/bff/user", headers=XHR, timeout=10).status_code == 401


def test_check_config_is_ready_against_oidc_provider(stack: Stack, redis_server: RedisServer,
                                                    tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text("")
    result = check_config({"BFF_BASE_URL": stack.bff.url, "BFF_ISSUER": stack.issuer,
                           "BFF_CLIENT_ID": "bff-interop", "BFF_CLIENT_SECRET": SECRET,
                           "BFF_SECRET_KEYS": stack.keys, "BFF_REDIS_URL": redis_server.url},
                          config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bff-interop authenticates with client_secret_basic" in result.stdout
    assert "logout revokes refresh tokens at" in result.stdout
