"""Forced logout with a signed token (the review's finding 3): only an ID token of this provider,
issued to the client named, for the user signed in in this browser, and not long expired, ends
the provider session without asking. Every other hint gets the confirmation page, and nothing
ends until the user confirms."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.integration.authserver_support import (
    AuthServer,
    Pkce,
    authorize_params,
    signed_by_server,
    tokens_for,
)

POST_LOGOUT = "http://localhost:8000/"


def signed_in(server: AuthServer) -> tuple[requests.Session, dict[str, Any]]:
    browser = requests.Session()
    tokens = tokens_for(server, browser=browser)
    return browser, server.verify(tokens["id_token"], audience="bff-demo")


def still_signed_in(server: AuthServer, browser: requests.Session) -> bool:
    answer = browser.get(f"{server.url}/authorize", allow_redirects=False,
                         params=authorize_params(Pkce(), prompt="none"))
    return "code=" in answer.headers.get("Location", "")


def log_out(server: AuthServer, browser: requests.Session, hint: str,
            client_id: str | None = "bff-demo") -> requests.Response:
    params = {"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT}
    if client_id:
        params["client_id"] = client_id
    return browser.get(f"{server.url}/logout", params=params, allow_redirects=False)


def id_token_like(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {**{k: v for k, v in claims.items() if k not in ("at_hash", "nonce")},
            "iat": now, "exp": now + 300, **changes}


def test_the_browsers_own_id_token_logs_out_without_a_prompt(server: AuthServer) -> None:
    browser, claims = signed_in(server)
    hint = signed_by_server(server, id_token_like(claims), typ="JWT")
    answer = log_out(server, browser, hint)
    assert answer.status_code == 302 and answer.headers["Location"] == POST_LOGOUT
    assert not still_signed_in(server, browser)


def test_an_id_token_expired_within_the_session_lifetime_is_still_honoured(
        server: AuthServer) -> None:
    browser, claims = signed_in(server)
    hint = signed_by_server(server, id_token_like(claims, exp=int(time.time()) - 600),
                            typ="JWT")
    assert log_out(server, browser, hint).status_code == 302
    assert not still_signed_in(server, browser)


def client_credentials_token(server: AuthServer) -> str:
    response = requests.post(f"{server.url}/token", auth=("demo-service", "test-service-secret"),
                             data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.mark.parametrize("attack", [
    "client_credentials_access_token", "users_own_access_token", "another_clients_id_token",
    "another_users_id_token", "expired_beyond_the_session_lifetime", "id_token_with_scope",
    "no_client_id_and_a_list_audience",
])
def test_a_hint_that_is_not_this_browsers_id_token_gets_the_confirmation_page(
        server: AuthServer, attack: str) -> None:
    browser, claims = signed_in(server)
    client_id: str | None = "bff-demo"
    if attack == "client_credentials_access_token":
        hint = client_credentials_token(server)
        client_id = None
    elif attack == "users_own_access_token":
        hint = tokens_for(server)["access_token"]
    elif attack == "another_clients_id_token":
        hint = signed_by_server(server, id_token_like(claims, aud="other-app"), typ="JWT")
    elif attack == "another_users_id_token":
        hint = signed_by_server(server, id_token_like(claims, sub="bob"), typ="JWT")
    elif attack == "expired_beyond_the_session_lifetime":
        hint = signed_by_server(server, id_token_like(claims, exp=int(time.time()) - 9 * 3600),
                                typ="JWT")
    elif attack == "id_token_with_scope":
        hint = signed_by_server(server, id_token_like(claims, scope="openid"), typ="JWT")
    else:
        hint = signed_by_server(server, id_token_like(claims, aud=["bff-demo", "other-app"]),
                                typ="JWT")
        client_id = None
    answer = log_out(server, browser, hint, client_id)
    if answer.status_code == 400:  # refused outright: client_id not among the hint's audiences
        assert "Invalid sign-in request" in answer.text
    else:
        assert answer.status_code == 200 and "Sign out?" in answer.text, answer.text[:300]
    assert still_signed_in(server, browser)


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."])
def test_a_hint_this_server_did_not_sign_ends_nothing(server: AuthServer, hint: str) -> None:
    browser, _ = signed_in(server)
    answer = log_out(server, browser, hint)
    assert answer.status_code in (200, 400) and answer.status_code != 302
    assert still_signed_in(server, browser)


def test_a_genuine_hint_from_another_browser_ends_no_session(server: AuthServer) -> None:
    victim, claims = signed_in(server)
    hint = signed_by_server(server, id_token_like(claims), typ="JWT")
    log_out(server, requests.Session(), hint)
    assert still_signed_in(server, victim)
