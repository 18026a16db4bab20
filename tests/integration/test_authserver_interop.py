"""Interoperability: an OAuth client that is not Authlib (oauthlib via requests-oauthlib)
completes authorization code + PKCE and a refresh against the real server."""

from __future__ import annotations

import pytest
import requests
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from tests.integration.authserver_support import (
    BFF_SECRET,
    FULL_SCOPE,
    REDIRECT_URI,
    AuthServer,
    login_form,
    submit_login,
)


def test_requests_oauthlib_completes_code_pkce_and_refresh(
        server: AuthServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on localhost
    discovery = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    client = OAuth2Session("bff-demo", redirect_uri=REDIRECT_URI, scope=FULL_SCOPE.split(),
                           pkce="S256")
    url, state = client.authorization_url(discovery["authorization_endpoint"])

    browser = requests.Session()
    page = browser.get(url)
    redirect = submit_login(browser, server.url, login_form(page), "alice", "wonderland")
    assert redirect.status_code == 302

    token = client.fetch_token(discovery["token_endpoint"],
                               authorization_response=redirect.headers["Location"],
                               auth=HTTPBasicAuth("bff-demo", BFF_SECRET))
    assert token["token_type"] == "Bearer"
    claims = server.verify(token["access_token"], audience="demo-api", typ="at+jwt")
    assert claims["sub"] == "alice"

    info = client.get(discovery["userinfo_endpoint"])
    assert info.status_code == 200 and info.json()["email"] == "alice@example.com"

    renewed = client.refresh_token(discovery["token_endpoint"],
                                   auth=HTTPBasicAuth("bff-demo", BFF_SECRET))
    assert renewed["refresh_token"] != token["refresh_token"]
    assert server.verify(renewed["access_token"], audience="demo-api")["sub"] == "alice"
