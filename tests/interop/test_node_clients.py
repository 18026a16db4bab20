"""The reference authorization server with panva's openid-client (a certified relying-party
library) and jose as its clients, for RS256 and ES256 keys: discovery, code + PKCE with the
RFC 9207 ``iss`` check, ID-token validation, userinfo, refresh rotation and reuse detection,
client credentials with a secret that needs RFC 6749 2.3.1 encoding, introspection,
revocation, end-session, and a key rotation seen through jose's cached remote JWKS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bff.signing_keys import generate_signing_key
from tests.integration.authserver_support import (
    AWKWARD_SECRET,
    BFF_SECRET,
    REDIRECT_URI,
    AuthServer,
    config_text,
    login_form,
    start_authserver,
    submit_login,
)
from tests.integration.test_authserver_keys import rotate
from tests.interop.node_support import LineDriver, npm_installed
from tests.support import RedisServer

SCOPE = "openid profile email offline_access orders:read"
NODE_KEY = generate_signing_key()
POST_LOGOUT = "http://localhost:8000/"


@pytest.fixture(scope="module")
def driver() -> Iterator[LineDriver]:
    running = LineDriver(npm_installed("node_clients"), "driver.mjs")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def server(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[AuthServer]:
    started = start_authserver(redis_server.url,
                               config=f'signing_alg = "{request.param}"\n' + config_text())
    try:
        yield started
    finally:
        started.stop()


def bff_client(server: AuthServer, **extra: str) -> dict[str, str]:
    return {"issuer": server.issuer, "clientId": "bff-demo", "clientSecret": BFF_SECRET,
            "auth": "client_secret_basic", **extra}


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"], answer
    return answer


def code_flow(driver: LineDriver, server: AuthServer,
              browser: requests.Session | None = None) -> dict[str, Any]:
    """openid-client builds the request, a scripted browser signs in, openid-client exchanges
    the code and validates everything it validates (state, iss, nonce, ID token)."""
    start = ok(driver.call("authorize_url", **bff_client(server), redirectUri=REDIRECT_URI,
                           scope=SCOPE))
    browser = browser or requests.Session()
    page = browser.get(start["url"], allow_redirects=False)
    back = submit_login(browser, server.url, login_form(page), "alice", "wonderland")
    callback = back.headers["Location"]
    assert callback.startswith(REDIRECT_URI) and "iss=" in callback
    return ok(driver.call("exchange", **bff_client(server), callbackUrl=callback,
                          verifier=start["verifier"], state=start["state"],
                          nonce=start["nonce"]))


def test_discovery_is_read_by_openid_client(driver: LineDriver, server: AuthServer) -> None:
    metadata = ok(driver.call("discover", **bff_client(server)))["metadata"]
    assert metadata["issuer"] == server.issuer
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_code_flow_with_pkce_iss_and_id_token_validation(driver: LineDriver,
                                                         server: AuthServer) -> None:
    result = code_flow(driver, server)
    assert result["claims"]["sub"] == "alice" and result["claims"]["iss"] == server.issuer
    assert result["tokens"]["token_type"].lower() == "bearer"


def test_a_callback_from_another_issuer_is_refused_by_openid_client(
        driver: LineDriver, server: AuthServer) -> None:
    start = ok(driver.call("authorize_url", **bff_client(server), redirectUri=REDIRECT_URI,
                           scope=SCOPE))
    browser = requests.Session()
    page = browser.get(start["url"], allow_redirects=False)
    callback = submit_login(browser, server.url, login_form(page), "alice",
                            "wonderland").headers["Location"]
    forged = callback.replace("iss=", "iss=https%3A%2F%2Fevil.example&was=")
    answer = driver.call("exchange", **bff_client(server), callbackUrl=forged,
                         verifier=start["verifier"], state=start["state"], nonce=start["nonce"])
    assert not answer["ok"]


def test_userinfo_answers_for_the_same_subject(driver: LineDriver, server: AuthServer) -> None:
    tokens = code_flow(driver, server)["tokens"]
    info = ok(driver.call("userinfo", **bff_client(server), accessToken=tokens["access_token"],
                          expectedSubject="alice"))["userinfo"]
    assert info["sub"] == "alice" and info["email"]


def test_refresh_rotates_and_a_reused_token_is_refused(driver: LineDriver,
                                                       server: AuthServer) -> None:
    tokens = code_flow(driver, server)["tokens"]
    first = ok(driver.call("refresh", **bff_client(server),
                           refreshToken=tokens["refresh_token"]))["tokens"]
    assert first["refresh_token"] != tokens["refresh_token"]
    reused = driver.call("refresh", **bff_client(server), refreshToken=tokens["refresh_token"])
    assert not reused["ok"] and reused["error"] == "invalid_grant"
    family = driver.call("refresh", **bff_client(server), refreshToken=first["refresh_token"])
    assert not family["ok"], "reuse must revoke the whole family"


def test_client_credentials_with_a_secret_that_needs_form_encoding(
        driver: LineDriver, server: AuthServer) -> None:
    """openid-client encodes Basic credentials per RFC 6749 2.3.1; a space and '+' in the
    secret were read wrongly by the server before."""
    answer = ok(driver.call("client_credentials", issuer=server.issuer,
                            clientId="awkward service", clientSecret=AWKWARD_SECRET,
                            auth="client_secret_basic", scope="orders:read"))
    assert answer["tokens"]["access_token"]


def test_introspection_and_revocation(driver: LineDriver, server: AuthServer) -> None:
    tokens = code_flow(driver, server)["tokens"]
    active = ok(driver.call("introspect", **bff_client(server),
                            token=tokens["access_token"]))["introspection"]
    assert active["active"] is True and active["sub"] == "alice"
    ok(driver.call("revoke", **bff_client(server), token=tokens["refresh_token"],
                   hint="refresh_token"))
    revoked = ok(driver.call("introspect", **bff_client(server),
                             token=tokens["refresh_token"]))["introspection"]
    assert revoked["active"] is False


def test_end_session_with_the_id_token_hint_logs_out_without_a_prompt(
        driver: LineDriver, server: AuthServer) -> None:
    browser = requests.Session()
    tokens = code_flow(driver, server, browser)["tokens"]
    url = ok(driver.call("end_session_url", **bff_client(server),
                         idTokenHint=tokens["id_token"],
                         postLogoutRedirectUri=POST_LOGOUT))["url"]
    answer = browser.get(url, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == POST_LOGOUT


def test_jose_verifies_access_tokens_through_the_remote_jwks(driver: LineDriver,
                                                             server: AuthServer) -> None:
    tokens = code_flow(driver, server)["tokens"]
    verified = ok(driver.call("jose_verify", token=tokens["access_token"],
                              jwksUri=f"{server.url}/jwks", issuer=server.issuer,
                              audience="demo-api", typ="at+jwt"))
    assert verified["payload"]["sub"] == "alice"


@pytest.mark.parametrize(("publish_ahead", "cooldown_ms", "accepted"),
                         [(0, 30_000, False), (2, 1_000, True)])
def test_key_rotation_seen_by_a_cached_remote_jwks(
        driver: LineDriver, redis_server: RedisServer, publish_ahead: int, cooldown_ms: int,
        accepted: bool) -> None:
    """jose refetches the JWKS for an unknown ``kid`` only after its cool-down (30 s by
    default). A key that signs at once is unknown to a relying party that fetched within its
    cool-down (refused: the failure the review saw); a key published longer ahead than the
    cool-down is found (1 s and 2 s here, so the test stays short)."""
    server = start_authserver(redis_server.url)
    try:
        jwks = {"jwksUri": f"{server.url}/jwks", "issuer": server.issuer,
                "audience": "demo-api", "typ": "at+jwt", "cooldownMs": cooldown_ms}
        before = code_flow(driver, server)["tokens"]["access_token"]
        ok(driver.call("jose_verify", token=before, **jwks))
        rotate(server, redis_server.url, publish_ahead=publish_ahead)
        time.sleep(publish_ahead + 0.3)
        after = code_flow(driver, server)["tokens"]["access_token"]
        answer = driver.call("jose_verify", token=after, **jwks)
        assert answer["ok"] is accepted, answer
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fapi_server(redis_server: RedisServer) -> Iterator[AuthServer]:
    """A client with no secret that must push, on a server that requires DPoP nonces."""
    public_jwk = ", ".join(f"{k} = {json.dumps(v)}" for k, v in NODE_KEY.public_jwk().items())
    client = f"""
[[clients]]
client_id = "node-fapi"
redirect_uris = ["{REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access", "orders:read"]
audience = "demo-api"
token_endpoint_auth_methods = ["private_key_jwt"]
jwks = {{ keys = [{{ {public_jwk} }}] }}
require_pushed_authorization_requests = true
"""
    started = start_authserver(redis_server.url,
                               config=config_text(extra="dpop_nonce = true") + client)
    try:
        yield started
    finally:
        started.stop()


def test_openid_client_with_private_key_jwt_par_and_dpop(driver: LineDriver,
                                                         fapi_server: AuthServer) -> None:
    """openid-client's own PAR, private_key_jwt and DPoP (with the server's nonces) against the
    reference provider: the tokens come back bound to openid-client's key, and refresh with it."""
    fapi = {"issuer": fapi_server.issuer, "clientId": "node-fapi", "auth": "private_key_jwt",
            "privateJwk": NODE_KEY.private_jwk(), "dpop": "alice-1"}
    start = ok(driver.call("par_authorize_url", **fapi, redirectUri=REDIRECT_URI,
                           scope="openid profile offline_access orders:read"))
    assert set(parse_qs(urlsplit(start["url"]).query)) == {"client_id", "request_uri"}
    browser = requests.Session()
    page = browser.get(start["url"], allow_redirects=False)
    back = submit_login(browser, fapi_server.url, login_form(page), "alice", "wonderland")
    tokens = ok(driver.call("dpop_exchange", **fapi, callbackUrl=back.headers["Location"],
                            verifier=start["verifier"], state=start["state"],
                            nonce=start["nonce"]))["tokens"]
    assert tokens["token_type"].lower() == "dpop"
    claims = fapi_server.verify(tokens["access_token"], "demo-api")
    assert set(claims["cnf"]) == {"jkt"}
    refreshed = ok(driver.call("dpop_refresh", **fapi,
                               refreshToken=tokens["refresh_token"]))["tokens"]
    assert fapi_server.verify(refreshed["access_token"], "demo-api")["cnf"] == claims["cnf"]
    stolen = driver.call("dpop_refresh", **{**fapi, "dpop": "thief"},
                         refreshToken=refreshed["refresh_token"])
    assert not stolen["ok"] and stolen["error"] == "invalid_grant", stolen
