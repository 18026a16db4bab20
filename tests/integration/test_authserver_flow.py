"""The authorization code + PKCE flow against a real `bff authserver` process and real Redis."""

from __future__ import annotations

import stat
import time

import requests

from tests.integration.authserver_support import (
    BFF_SECRET,
    REDIRECT_URI,
    AuthServer,
    Pkce,
    authorize_params,
    exchange_code,
    login,
    login_form,
    redirect_params,
    refresh,
    start_authserver,
    submit_login,
    tokens_for,
)
from tests.support import free_port


def test_healthz(server: AuthServer) -> None:
    response = requests.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_discovery_lists_what_is_supported(server: AuthServer) -> None:
    doc = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    base = server.url
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == f"{base}/authorize"
    assert doc["token_endpoint"] == f"{base}/token"
    assert doc["jwks_uri"] == f"{base}/jwks"
    assert doc["userinfo_endpoint"] == f"{base}/userinfo"
    assert doc["end_session_endpoint"] == f"{base}/logout"
    assert doc["revocation_endpoint"] == f"{base}/revoke"
    assert doc["introspection_endpoint"] == f"{base}/introspect"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials", "password",
        "urn:ietf:params:oauth:grant-type:token-exchange"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt"}
    assert {"openid", "profile", "email", "orders:read"} <= set(doc["scopes_supported"])
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["backchannel_logout_supported"] is True
    assert requests.get(f"{base}/.well-known/oauth-authorization-server").json() == doc


def test_jwks_publishes_public_signing_keys_only(server: AuthServer) -> None:
    keys = requests.get(f"{server.url}/jwks").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_signing_key_is_persisted_as_a_private_file(server: AuthServer) -> None:
    files = list(server.key_dir.glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert files[0].stem == requests.get(f"{server.url}/jwks").json()["keys"][0]["kid"]


def test_full_code_flow_issues_verifiable_tokens(server: AuthServer) -> None:
    pkce = Pkce()
    params = authorize_params(pkce)
    browser = requests.Session()
    redirect = login(browser, server.url, params)
    assert redirect.headers["Location"].startswith(REDIRECT_URI + "?")
    back = redirect_params(redirect)
    assert back["state"] == params["state"]
    assert back["iss"] == server.url
    cookie = next(c for c in browser.cookies if c.name == "bff_as_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "session" not in {c.name for c in browser.cookies}

    response = exchange_code(server.url, back["code"], pkce)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert set(token["scope"].split()) == set(params["scope"].split())
    assert token["refresh_token"]

    access = server.verify(token["access_token"], audience="demo-api", typ="at+jwt")
    now = time.time()
    assert access["sub"] == "alice" and access["client_id"] == "bff-demo"
    assert access["iss"] == server.url and access["jti"]
    assert abs(access["exp"] - access["iat"] - 900) <= 1 and access["iat"] <= now + 1
    assert "orders:write" in access["scope"].split()

    id_claims = server.verify(token["id_token"], audience="bff-demo")
    assert id_claims["sub"] == "alice"
    assert id_claims["nonce"] == params["nonce"]
    assert id_claims["sid"] and id_claims["auth_time"] <= now + 1
    assert id_claims["at_hash"]
    assert id_claims["name"] == "Alice Liddell" and id_claims["email"] == "alice@example.com"


def test_id_token_omits_profile_and_email_when_not_asked(server: AuthServer) -> None:
    token = tokens_for(server, scope="openid")
    claims = server.verify(token["id_token"], audience="bff-demo")
    assert "name" not in claims and "email" not in claims
    assert token["scope"] == "openid"


def test_api_scopes_are_limited_to_the_users_scopes(server: AuthServer) -> None:
    token = tokens_for(server, username="bob", password="builder")
    scopes = token["scope"].split()
    assert "orders:read" in scopes and "orders:write" not in scopes
    access = server.verify(token["access_token"], audience="demo-api")
    assert "orders:write" not in access["scope"].split()


def test_scopes_the_client_lacks_are_dropped(server: AuthServer) -> None:
    pkce = Pkce()
    params = authorize_params(pkce, client_id="other-app", redirect_uri=(
        "http://localhost:9000/callback"), scope="openid orders:read orders:write")
    back = redirect_params(login(requests.Session(), server.url, params))
    response = exchange_code(server.url, back["code"], pkce, client=("other-app", (
        "test-other-secret")), redirect_uri="http://localhost:9000/callback")
    assert response.json()["scope"] == "openid orders:read"


def test_refresh_rotates_the_refresh_token(server: AuthServer) -> None:
    token = tokens_for(server)
    first = refresh(server.url, token["refresh_token"])
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != token["refresh_token"]
    assert rotated["access_token"] != token["access_token"]
    claims = server.verify(rotated["id_token"], audience="bff-demo")
    original = server.verify(token["id_token"], audience="bff-demo")
    assert claims["sid"] == original["sid"] and claims["auth_time"] == original["auth_time"]
    assert "nonce" not in claims
    old = refresh(server.url, token["refresh_token"])
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"


def test_client_secret_post_is_accepted(server: AuthServer) -> None:
    token = tokens_for(server)
    response = requests.post(f"{server.url}/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": "bff-demo", "client_secret": BFF_SECRET})
    assert response.status_code == 200, response.text


def test_wrong_password_shows_the_form_with_an_error(server: AuthServer) -> None:
    browser = requests.Session()
    page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    response = submit_login(browser, server.url, login_form(page), "alice", "not-her-password")
    assert response.status_code == 401
    assert "Invalid username or password." in response.text
    assert 'name="password"' in response.text
    assert "Location" not in response.headers


def test_unknown_user_gets_the_same_error(server: AuthServer) -> None:
    browser = requests.Session()
    page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    response = submit_login(browser, server.url, login_form(page), "mallory", "whatever")
    assert response.status_code == 401
    assert "Invalid username or password." in response.text


def test_login_form_posts_to_the_same_authorize_url(server: AuthServer) -> None:
    params = authorize_params(Pkce())
    page = requests.get(f"{server.url}/authorize", params=params)
    form = login_form(page)
    assert form.action.startswith("/authorize?")
    assert f"state={params['state']}" in form.action
    assert page.headers["X-Frame-Options"] == "DENY"


def test_existing_provider_session_skips_the_form(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    again = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()),
                        allow_redirects=False)
    assert again.status_code == 302
    assert "code" in redirect_params(again)


def test_prompt_none_without_session_answers_login_required(server: AuthServer) -> None:
    params = authorize_params(Pkce(), prompt="none")
    response = requests.get(f"{server.url}/authorize", params=params, allow_redirects=False)
    back = redirect_params(response)
    assert response.headers["Location"].startswith(REDIRECT_URI)
    assert back["error"] == "login_required"
    assert back["state"] == params["state"]
    assert back["iss"] == server.url


def test_prompt_none_with_session_issues_a_code(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    response = browser.get(f"{server.url}/authorize", params=authorize_params(
        Pkce(), prompt="none"), allow_redirects=False)
    assert "code" in redirect_params(response)


def test_prompt_login_forces_the_form(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    response = browser.get(f"{server.url}/authorize", params=authorize_params(
        Pkce(), prompt="login"), allow_redirects=False)
    assert response.status_code == 200
    assert login_form(response)


def test_unregistered_redirect_uri_shows_an_error_page(server: AuthServer) -> None:
    params = authorize_params(Pkce(), redirect_uri="https://evil.example/callback")
    response = requests.get(f"{server.url}/authorize", params=params, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.headers.get("Location", "")
    assert "invalid_request" in response.text


def test_unknown_client_shows_an_error_page(server: AuthServer) -> None:
    params = authorize_params(Pkce(), client_id="nobody")
    response = requests.get(f"{server.url}/authorize", params=params, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.text


def test_redis_outage_answers_503_json() -> None:
    dead = start_authserver(f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = requests.post(f"{dead.url}/token", auth=("bff-demo", BFF_SECRET), data={
            "grant_type": "refresh_token", "refresh_token": "x"})
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"
        assert requests.get(f"{dead.url}/healthz").status_code == 200
    finally:
        dead.stop()


def test_roles_are_released_only_for_the_roles_scope(server: AuthServer) -> None:
    """Users may carry roles (config); the ID token carries them when ``roles`` is asked, so a
    BFF route's ``claims = { roles = [...] }`` can judge them (issue 15)."""
    with_roles = tokens_for(server, scope="openid profile roles")
    assert server.verify(with_roles["id_token"], audience="bff-demo")["roles"] == \
        ["stock-viewer"]
    without = tokens_for(server, scope="openid profile")
    assert "roles" not in server.verify(without["id_token"], audience="bff-demo")
    bob = tokens_for(server, "bob", "builder", scope="openid roles")
    assert server.verify(bob["id_token"], audience="bff-demo")["roles"] == []
