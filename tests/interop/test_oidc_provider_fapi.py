"""The BFF as a FAPI 2.0-style client of panva's oidc-provider: ``private_key_jwt`` client
authentication (RFC 7523, no shared secret at all), pushed authorization requests (RFC 9126,
required by the provider for this client) and DPoP-bound tokens (RFC 9449, with the provider's
nonce required in every proof), through login, proxied calls, refresh and logout."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from bff.audit import AuditOptions, run_audit
from bff.settings import generate_secret_key
from bff.signing_keys import generate_signing_key
from tests.integration.scale_support import (
    Upstream,
    check_config,
    make_refresh_due,
    session_cookie,
    session_record,
)
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

RESOURCE = "https://orders.example.test"


@dataclass
class Stack:
    provider: BffProcess
    bff: BffProcess
    env: dict[str, str]
    public_jwk: dict[str, str]
    dpop_jkt: str

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.provider.port}"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, upstream: Upstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = npm_installed("oidc_provider")
    key, dpop_key = generate_signing_key(), generate_signing_key()
    provider_port, bff_port = free_port(), free_port()
    bff_url = f"http://localhost:{bff_port}"
    provider = start_process(
        ["node", str(folder / "server.mjs"), str(provider_port), bff_url, "unused", RESOURCE],
        provider_port, env={"FAPI_CLIENT_JWKS": json.dumps({"keys": [key.public_jwk()]})},
        ready_path="/.well-known/openid-configuration", name="oidc-provider")
    routes = tmp_path_factory.mktemp("oidc-provider-fapi") / "routes.toml"
    routes.write_text(f'[[routes]]\nprefix = "/api/echo"\nupstream = "{upstream.url}/echo"\n')
    env = {"BFF_BASE_URL": bff_url, "BFF_ISSUER": f"http://localhost:{provider_port}",
           "BFF_CLIENT_ID": "bff-fapi", "BFF_CLIENT_KEY": json.dumps(key.private_jwk()),
           "BFF_SECRET_KEYS": generate_secret_key(), "BFF_REDIS_URL": redis_server.url,
           "BFF_SCOPES": "openid profile email offline_access orders:read",
           "BFF_DPOP": "required", "BFF_DPOP_KEYS": json.dumps(dpop_key.private_jwk()),
           "PYTHONUNBUFFERED": "1"}
    try:
        bff = start_bff(["serve", "--config", str(routes), "--port", str(bff_port)], bff_port,
                        env)
    except BaseException:
        provider.stop()
        raise
    try:
        yield Stack(provider=provider, bff=bff, env=env, public_jwk=key.public_jwk(),
                    dpop_jkt=dpop_key.thumbprint)
    finally:
        bff.stop()
        provider.stop()


def log_in(stack: Stack) -> tuple[requests.Session, str]:
    """Through oidc-provider's pages; returns the browser and the URL the BFF sent it to."""
    browser = requests.Session()
    start = browser.get(f"{stack.bff.url}/bff/login", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    authorize = start.headers["Location"]
    page = browser.get(authorize, timeout=10)
    for _ in range(4):
        if page.url.startswith(stack.bff.url):
            return browser, authorize
        form = parse_form(page.text)
        assert form.action is not None, (page.url, page.text[:300])
        fields = {**form.fields, "login": "alice", "password": "any"}
        page = browser.post(urljoin(page.url, form.action), data=fields, timeout=10)
    raise AssertionError(f"the login never came back to the BFF: {page.url}")


def test_the_browser_url_carries_only_client_id_and_request_uri(stack: Stack) -> None:
    browser, authorize = log_in(stack)
    params = parse_qs(urlsplit(authorize).query)
    assert set(params) == {"client_id", "request_uri"}, params
    assert params["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    assert browser.get(f"{stack.bff.url}/bff/user", headers=XHR, timeout=10).json()["sub"] \
        == "alice"


def test_calls_refresh_and_logout_authenticate_with_the_key_alone(
        stack: Stack, redis_server: RedisServer) -> None:
    browser, _ = log_in(stack)
    assert browser.get(f"{stack.bff.url}/api/echo/1", headers=XHR, timeout=10).status_code == 200
    version = session_record(redis_server.client(), browser)["v"]
    make_refresh_due(redis_server.client(), session_cookie(browser), expires_in=-1)
    assert browser.get(f"{stack.bff.url}/api/echo/2", headers=XHR, timeout=10).status_code == 200
    assert session_record(redis_server.client(), browser)["v"] == version + 1, "refreshed"
    logout = browser.post(f"{stack.bff.url}/bff/logout", headers=XHR, timeout=10)
    assert logout.status_code == 200
    assert "could not revoke" not in stack.bff.log_path.read_text(), "revocation used the key"


def test_upstreams_receive_dpop_bound_tokens_with_a_fresh_proof_for_their_url(
        stack: Stack, upstream: Upstream) -> None:
    browser, _ = log_in(stack)
    proofs = []
    for n in (1, 2):
        seen = browser.get(f"{stack.bff.url}/api/echo/{n}?q=1", headers=XHR, timeout=10).json()
        scheme, _, token = seen["headers"]["Authorization"].partition(" ")
        assert scheme == "DPoP"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["cnf"]["jkt"] == stack.dpop_jkt
        proof = {k.lower(): v for k, v in seen["headers"].items()}["dpop"]
        header = jwt.get_unverified_header(proof)
        assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]
        assert thumbprint(header["jwk"]) == stack.dpop_jkt
        body = jwt.decode(proof, jwt.PyJWK(header["jwk"]).key, algorithms=[header["alg"]])
        assert body["htm"] == "GET" and body["htu"] == f"{upstream.url}/echo/{n}"
        assert body["ath"] == base64.urlsafe_b64encode(
            hashlib.sha256(token.encode()).digest()).decode().rstrip("=")
        proofs.append(body["jti"])
    assert proofs[0] != proofs[1], "a fresh proof per request"


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 for an EC key, written out so the test does not trust the code under test."""
    members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                         sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).decode().rstrip(
        "=")


def test_a_key_the_provider_does_not_know_is_refused_at_the_first_push(
        stack: Stack, redis_server: RedisServer) -> None:
    port = free_port()
    other = start_bff(["serve", "--port", str(port)], port, {
        **stack.env, "BFF_CLIENT_KEY": json.dumps(generate_signing_key().private_jwk()),
        "BFF_BASE_URL": f"http://localhost:{port}"})
    try:
        answer = requests.get(f"{other.url}/bff/login", headers={"Accept": "text/html"},
                              allow_redirects=False, timeout=10)
        assert answer.status_code == 400 and "invalid_client" in answer.text
    finally:
        other.stop()


def test_check_config_names_private_key_jwt_and_par(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text("")
    result = check_config(stack.env, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bff-fapi authenticates with private_key_jwt" in result.stdout
    assert "pushed authorization requests" in result.stdout
    assert f"tokens are DPoP-bound to the ES256 key {stack.dpop_jkt}" in result.stdout


def test_bff_audit_sees_the_pushed_request_and_the_providers_dpop(stack: Stack) -> None:
    checks = {c.name: c for c in run_audit(AuditOptions(url=stack.bff.url,
                                                         issuer=stack.issuer))}
    assert checks["provider.par"].status == "PASS"
    assert checks["provider.login-request"].status == "PASS"
    assert checks["provider.dpop"].status == "PASS"
    assert "private_key_jwt" in checks["provider.client-auth"].detail
