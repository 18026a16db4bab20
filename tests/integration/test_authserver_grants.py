"""Every grant, positive and negative, against a real `bff authserver` and real Redis."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bff.sansio.oidc_rules import basic_authorization
from tests.integration.authserver_support import (
    AWKWARD_SECRET,
    BFF_SECRET,
    OTHER_SECRET,
    SERVICE_SECRET,
    TRUSTED_SECRET,
    AuthServer,
    Pkce,
    authorize_params,
    exchange_code,
    introspect,
    login,
    redirect_params,
    refresh,
    tokens_for,
)


def authorization_error(server: AuthServer, **overrides: str | None) -> dict[str, str]:
    """Log in with a tweaked authorization request; return the error redirect's parameters."""
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    response = browser.get(f"{server.url}/authorize", allow_redirects=False,
                           params=authorize_params(Pkce(), **overrides))
    assert response.status_code == 302, response.text
    return redirect_params(response)


def code_for(server: AuthServer, pkce: Pkce, **overrides: str | None) -> str:
    browser = requests.Session()
    return redirect_params(login(browser, server.url, authorize_params(pkce, **overrides)))["code"]


def assert_oauth_error(response: requests.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"] == error


# -- authorization code + PKCE ---------------------------------------------------------

def test_missing_pkce_challenge_is_refused(server: AuthServer) -> None:
    back = authorization_error(server, code_challenge=None, code_challenge_method=None)
    assert back["error"] == "invalid_request"
    assert "code" not in back


def test_plain_pkce_method_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    back = authorization_error(server, code_challenge=pkce.verifier,
                               code_challenge_method="plain")
    assert back["error"] == "invalid_request"


def test_pkce_challenge_without_method_is_refused(server: AuthServer) -> None:
    back = authorization_error(server, code_challenge_method=None)
    assert back["error"] == "invalid_request"


def test_authorization_errors_carry_state_and_issuer(server: AuthServer) -> None:
    back = authorization_error(server, code_challenge=None, state="s-123")
    assert back["state"] == "s-123"
    assert back["iss"] == server.url


def test_wrong_code_verifier_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    response = exchange_code(server.url, code, pkce, verifier=Pkce().verifier)
    assert_oauth_error(response, "invalid_grant")


def test_missing_code_verifier_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": authorize_params(pkce)["redirect_uri"]})
    assert_oauth_error(response, "invalid_request")


def test_code_is_dead_after_a_failed_verifier(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    exchange_code(server.url, code, pkce, verifier=Pkce().verifier)
    assert_oauth_error(exchange_code(server.url, code, pkce), "invalid_grant")


def test_replayed_code_is_refused_and_revokes_what_it_issued(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    first = exchange_code(server.url, code, pkce)
    assert first.status_code == 200
    tokens = first.json()
    assert introspect(server, tokens["access_token"])["active"] is True

    assert_oauth_error(exchange_code(server.url, code, pkce), "invalid_grant")
    assert introspect(server, tokens["access_token"])["active"] is False
    assert introspect(server, tokens["refresh_token"])["active"] is False
    assert_oauth_error(refresh(server.url, tokens["refresh_token"]), "invalid_grant")


def test_redirect_uri_mismatch_at_the_token_endpoint_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    response = exchange_code(server.url, code, pkce, redirect_uri="http://localhost:8000/other")
    assert_oauth_error(response, "invalid_grant")


def test_code_issued_to_another_client_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    response = exchange_code(server.url, code, pkce, client=("other-app", OTHER_SECRET))
    assert_oauth_error(response, "invalid_grant")


def test_unknown_code_is_refused(server: AuthServer) -> None:
    assert_oauth_error(exchange_code(server.url, "not-a-code", Pkce()), "invalid_grant")


def test_wrong_client_secret_is_refused(server: AuthServer) -> None:
    pkce = Pkce()
    code = code_for(server, pkce)
    response = exchange_code(server.url, code, pkce, client=("bff-demo", "wrong-secret"))
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_client_secret_post_is_refused(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", data={
        "grant_type": "client_credentials", "client_id": "demo-service",
        "client_secret": "wrong"})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_unknown_client_is_refused(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("nobody", "x"),
                             data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "invalid_client", status=401)


def test_unsupported_grant_type_is_refused(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert_oauth_error(response, "unsupported_grant_type")


def test_implicit_response_type_is_refused(server: AuthServer) -> None:
    back = authorization_error(server, response_type="token")
    assert back["error"] == "unsupported_response_type"


# -- refresh tokens ------------------------------------------------------------------------

def test_refresh_token_reuse_revokes_the_family(server: AuthServer) -> None:
    original = tokens_for(server)
    rotated = refresh(server.url, original["refresh_token"]).json()
    assert introspect(server, rotated["access_token"])["active"] is True

    assert_oauth_error(refresh(server.url, original["refresh_token"]), "invalid_grant")
    assert_oauth_error(refresh(server.url, rotated["refresh_token"]), "invalid_grant")
    assert introspect(server, rotated["access_token"])["active"] is False
    assert introspect(server, original["access_token"])["active"] is False


def test_reuse_in_one_family_leaves_other_logins_alone(server: AuthServer) -> None:
    victim = tokens_for(server)
    other = tokens_for(server)
    refresh(server.url, victim["refresh_token"])
    refresh(server.url, victim["refresh_token"])
    assert refresh(server.url, other["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client_is_refused(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = refresh(server.url, tokens["refresh_token"], client=("other-app", OTHER_SECRET))
    assert_oauth_error(response, "invalid_grant")


def test_refresh_cannot_widen_the_scope(server: AuthServer) -> None:
    tokens = tokens_for(server, scope="openid orders:read")
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "scope": "openid orders:read orders:write"})
    assert_oauth_error(response, "invalid_scope")


def test_refresh_may_narrow_the_scope(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "scope": "openid orders:read"})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid orders:read"


def test_unknown_refresh_token_is_refused(server: AuthServer) -> None:
    assert_oauth_error(refresh(server.url, "not-a-refresh-token"), "invalid_grant")


# -- client credentials --------------------------------------------------------------------

def test_client_credentials_issues_a_service_token(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("demo-service", SERVICE_SECRET),
                             data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    token = response.json()
    assert "refresh_token" not in token and "id_token" not in token
    assert token["scope"] == "orders:read"
    claims = server.verify(token["access_token"], audience="demo-api", typ="at+jwt")
    assert claims["sub"] == "demo-service" and claims["client_id"] == "demo-service"
    assert claims["scope"] == "orders:read"


def test_client_credentials_within_registered_scopes(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", data={
        "grant_type": "client_credentials", "scope": "orders:read",
        "client_id": "demo-service", "client_secret": SERVICE_SECRET})
    assert response.status_code == 200, response.text


def test_client_credentials_beyond_registered_scopes_is_refused(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("demo-service", SERVICE_SECRET),
                             data={"grant_type": "client_credentials",
                                   "scope": "orders:read orders:write"})
    assert_oauth_error(response, "invalid_scope")


def test_client_credentials_refused_for_a_client_not_registered_for_it(
        server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET),
                             data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "unauthorized_client")


# -- resource owner password ---------------------------------------------------------------

def test_password_grant_for_a_trusted_first_party_client(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("first-party-cli", TRUSTED_SECRET),
                             data={"grant_type": "password", "username": "bob",
                                   "password": "builder", "scope": "openid orders:read "
                                                                   "orders:write"})
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["scope"] == "openid orders:read"  # bob may not write orders
    claims = server.verify(token["access_token"], audience="demo-api")
    assert claims["sub"] == "bob" and claims["client_id"] == "first-party-cli"
    assert refresh(server.url, token["refresh_token"], client=(
        "first-party-cli", TRUSTED_SECRET)).status_code == 200


def test_password_grant_is_refused_for_an_untrusted_client(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "password", "username": "alice", "password": "wonderland"})
    assert_oauth_error(response, "unauthorized_client")


def test_password_grant_with_a_wrong_password_is_refused(server: AuthServer) -> None:
    response = requests.post(f"{server.url}/token", auth=("first-party-cli", TRUSTED_SECRET),
                             data={"grant_type": "password", "username": "alice",
                                   "password": "guess"})
    assert_oauth_error(response, "invalid_grant")


def test_unknown_scope_is_refused(server: AuthServer) -> None:
    back = authorization_error(server, scope="openid admin:everything")
    assert back["error"] == "invalid_scope"


def test_concurrent_use_of_one_refresh_token_succeeds_once(server: AuthServer) -> None:
    tokens = tokens_for(server)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: refresh(server.url, tokens["refresh_token"]), range(6)))
    winners = [r.json() for r in results if r.status_code == 200]
    assert len(winners) == 1
    assert all(r.json().get("error") == "invalid_grant" for r in results if r.status_code != 200)
    # The losers were reuse of a rotated token, so the whole family is gone.
    assert_oauth_error(refresh(server.url, winners[0]["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_a_secret_with_reserved_characters_and_a_space_authenticates_rfc6749_2_3_1(
        server: AuthServer, auth: str) -> None:
    """RFC 6749 section 2.3.1 and Appendix B: a conforming client form-urlencodes the id and
    the secret before base64 (openid-client does); Authlib decoded them with ``unquote``."""
    data = {"grant_type": "client_credentials", "scope": "orders:read"}
    headers = {}
    if auth == "client_secret_basic":
        headers["Authorization"] = basic_authorization("awkward service", AWKWARD_SECRET)
    else:
        data.update(client_id="awkward service", client_secret=AWKWARD_SECRET)
    answer = requests.post(f"{server.url}/token", data=data, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"].lower() == "bearer"


def test_a_basic_secret_read_without_form_decoding_is_refused(server: AuthServer) -> None:
    """The raw encoding Authlib's client sends: the '+' would have to mean '+', but RFC 6749
    says it is a space, so the secret does not match."""
    raw = base64.b64encode(f"awkward%20service:{AWKWARD_SECRET}".encode()).decode()
    answer = requests.post(f"{server.url}/token", headers={"Authorization": f"Basic {raw}"},
                           data={"grant_type": "client_credentials"})
    assert answer.status_code == 401
