"""Revocation, introspection, userinfo, RP-initiated and back-channel logout, for real."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from tests.integration.authserver_support import (
    BFF_SECRET,
    OTHER_SECRET,
    SERVICE_SECRET,
    AuthServer,
    Pkce,
    authorize_params,
    config_text,
    exchange_code,
    introspect,
    login,
    login_form,
    redirect_params,
    refresh,
    signed_by_server,
    start_authserver,
    tokens_for,
)
from tests.support import RedisServer

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A client's back-channel logout endpoint: collects the logout tokens POSTed to it."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[str] = queue.Queue()
        received = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                received.put(form["logout_token"][0])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bff/backchannel-logout"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next_token(self, timeout: float = 10) -> str:
        return self.tokens.get(timeout=timeout)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def server(redis_server: RedisServer, receiver: Receiver) -> Iterator[AuthServer]:
    server = start_authserver(redis_server.url, config=config_text(backchannel_uri=receiver.url))
    try:
        yield server
    finally:
        server.stop()


def revoke(server: AuthServer, token: str, client: tuple[str, str] = ("bff-demo", BFF_SECRET),
           **extra: str) -> requests.Response:
    return requests.post(f"{server.url}/revoke", auth=client, data={"token": token, **extra})


def userinfo(server: AuthServer, token: str) -> requests.Response:
    return requests.get(f"{server.url}/userinfo", headers={"Authorization": f"Bearer {token}"})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def current_kid(server: AuthServer) -> str:
    return requests.get(f"{server.url}/jwks").json()["keys"][0]["kid"]


def live_claims(server: AuthServer, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": server.url, "sub": "alice", "aud": "demo-api",
                                 "client_id": "bff-demo", "iat": now, "exp": now + 600,
                                 "jti": f"forged-{now}-{id(overrides)}", "scope": "openid"}
    claims.update(overrides)
    return claims


# -- revocation ---------------------------------------------------------------------------

def test_revoking_a_refresh_token_ends_its_family(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = revoke(server, tokens["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    assert refresh(server.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert introspect(server, tokens["access_token"])["active"] is False


def test_revoking_an_access_token_makes_it_inactive(server: AuthServer) -> None:
    tokens = tokens_for(server)
    assert revoke(server, tokens["access_token"], token_type_hint="access_token").status_code == 200
    assert introspect(server, tokens["access_token"])["active"] is False
    assert userinfo(server, tokens["access_token"]).status_code == 401
    assert refresh(server.url, tokens["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_succeeds_quietly(server: AuthServer) -> None:
    assert revoke(server, "never-issued").status_code == 200


def test_revocation_requires_client_authentication(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = requests.post(f"{server.url}/revoke", data={"token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert refresh(server.url, tokens["refresh_token"]).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = revoke(server, tokens["refresh_token"], client=("other-app", OTHER_SECRET))
    assert response.status_code == 400
    assert refresh(server.url, tokens["refresh_token"]).status_code == 200


# -- introspection --------------------------------------------------------------------------

def test_introspection_describes_an_active_access_token(server: AuthServer) -> None:
    tokens = tokens_for(server)
    result = introspect(server, tokens["access_token"])
    assert result["active"] is True
    assert result["sub"] == "alice" and result["client_id"] == "bff-demo"
    assert result["aud"] == "demo-api" and result["iss"] == server.url
    assert "orders:read" in result["scope"].split()
    assert result["exp"] > time.time()


def test_introspection_of_a_refresh_token_by_its_client(server: AuthServer) -> None:
    """RFC 7662 2.2: ``token_type`` is an RFC 6749 5.1 access token type, which a refresh
    token has none of; the answer leaves it out rather than call it ``refresh_token``."""
    tokens = tokens_for(server)
    result = introspect(server, tokens["refresh_token"], client=("bff-demo", BFF_SECRET))
    assert result["active"] is True and "token_type" not in result
    assert result["client_id"] == "bff-demo" and result["sub"] == "alice"


def test_introspection_reports_an_expired_token_as_inactive(server: AuthServer) -> None:
    now = int(time.time())
    expired = signed_by_server(server, live_claims(server, iat=now - 1000, exp=now - 100))
    assert introspect(server, expired) == {"active": False}


def test_introspection_reports_garbage_as_inactive(server: AuthServer) -> None:
    assert introspect(server, "not.a.token") == {"active": False}


def test_introspection_requires_client_authentication(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = requests.post(f"{server.url}/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_client_cannot_introspect_another_clients_token(server: AuthServer) -> None:
    tokens = tokens_for(server)
    assert introspect(server, tokens["access_token"],
                      client=("demo-service", SERVICE_SECRET)) == {"active": False}


def test_introspection_of_a_token_from_a_foreign_issuer_is_inactive(server: AuthServer) -> None:
    forged = signed_by_server(server, live_claims(server, iss="http://evil.example"))
    assert introspect(server, forged) == {"active": False}


# -- userinfo ------------------------------------------------------------------------------

def test_userinfo_returns_the_users_claims(server: AuthServer) -> None:
    tokens = tokens_for(server)
    response = userinfo(server, tokens["access_token"])
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "name": "Alice Liddell",
                               "preferred_username": "alice", "email": "alice@example.com"}


def test_userinfo_without_a_token_is_refused(server: AuthServer) -> None:
    response = requests.get(f"{server.url}/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_needs_the_openid_scope(server: AuthServer) -> None:
    token = requests.post(f"{server.url}/token", auth=("demo-service", SERVICE_SECRET),
                          data={"grant_type": "client_credentials"}).json()["access_token"]
    response = userinfo(server, token)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_token_signed_with_alg_none_is_rejected(server: AuthServer) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": current_kid(server)}
    token = ".".join([b64(json.dumps(header).encode()),
                      b64(json.dumps(live_claims(server)).encode()), ""])
    assert userinfo(server, token).status_code == 401
    assert introspect(server, token) == {"active": False}


def test_token_signed_with_hmac_of_the_public_key_is_rejected(server: AuthServer) -> None:
    jwk = requests.get(f"{server.url}/jwks").json()["keys"][0]
    public_pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}
    signing_input = ".".join([b64(json.dumps(header).encode()),
                              b64(json.dumps(live_claims(server)).encode())])
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert userinfo(server, token).status_code == 401
    assert introspect(server, token) == {"active": False}


def test_id_token_is_not_accepted_as_an_access_token(server: AuthServer) -> None:
    tokens = tokens_for(server)
    assert userinfo(server, tokens["id_token"]).status_code == 401


# -- logout --------------------------------------------------------------------------------

def test_logout_with_id_token_hint_redirects_to_a_registered_uri(server: AuthServer) -> None:
    browser = requests.Session()
    pkce = Pkce()
    back = redirect_params(login(browser, server.url, authorize_params(pkce)))
    tokens = exchange_code(server.url, back["code"], pkce).json()
    response = browser.get(f"{server.url}/logout", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost:8000/",
        "state": "bye"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost:8000/?state=bye"
    assert "bff_as_session" not in browser.cookies

    silent = browser.get(f"{server.url}/authorize", allow_redirects=False,
                         params=authorize_params(Pkce(), prompt="none"))
    assert redirect_params(silent)["error"] == "login_required"
    assert refresh(server.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_logout_never_redirects_to_an_unregistered_uri(server: AuthServer) -> None:
    browser = requests.Session()
    pkce = Pkce()
    back = redirect_params(login(browser, server.url, authorize_params(pkce)))
    tokens = exchange_code(server.url, back["code"], pkce).json()
    response = browser.get(f"{server.url}/logout", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are logged out" in response.text


def test_logout_without_hint_asks_for_confirmation(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    page = browser.get(f"{server.url}/logout")
    assert page.status_code == 200 and "Sign out?" in page.text
    still_in = browser.get(f"{server.url}/authorize", allow_redirects=False,
                           params=authorize_params(Pkce(), prompt="none"))
    assert "code" in redirect_params(still_in)

    form = login_form(page)
    forged = browser.post(server.url + form.action, data={"csrf_token": "forged"})
    assert "Sign out?" in forged.text
    done = browser.post(server.url + form.action, data={"csrf_token": form.csrf_token})
    assert "You are logged out" in done.text
    after = browser.get(f"{server.url}/authorize", allow_redirects=False,
                        params=authorize_params(Pkce(), prompt="none"))
    assert redirect_params(after)["error"] == "login_required"


def test_logout_with_an_invalid_id_token_hint_is_refused(server: AuthServer) -> None:
    response = requests.get(f"{server.url}/logout", allow_redirects=False, params={
        "id_token_hint": "not-a-token", "post_logout_redirect_uri": "http://localhost:8000/"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_sends_a_signed_back_channel_logout_token(server: AuthServer,
                                                         receiver: Receiver) -> None:
    while not receiver.tokens.empty():
        receiver.tokens.get_nowait()
    browser = requests.Session()
    tokens = tokens_for(server, browser=browser)
    id_claims = server.verify(tokens["id_token"], audience="bff-demo")
    browser.get(f"{server.url}/logout", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost:8000/"})

    logout_token = receiver.next_token()
    header = jwt.get_unverified_header(logout_token)
    assert header["typ"] == "logout+jwt" and header["kid"]
    claims = server.verify(logout_token, audience="bff-demo")
    assert claims["sid"] == id_claims["sid"]
    assert claims["sub"] == "alice"
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert claims["jti"] and "nonce" not in claims
    assert claims["exp"] > time.time()


def test_confirmed_logout_without_hint_redirects_to_a_registered_uri(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    page = browser.get(f"{server.url}/logout", params={
        "client_id": "bff-demo", "post_logout_redirect_uri": "http://localhost:8000/"})
    assert "Sign out?" in page.text
    form = login_form(page)
    done = browser.post(server.url + form.action, allow_redirects=False,
                        data={"csrf_token": form.csrf_token})
    assert done.status_code == 302
    assert done.headers["Location"] == "http://localhost:8000/"


def test_logout_hint_naming_this_browsers_session_logs_out_without_a_prompt(
        server: AuthServer) -> None:
    browser = requests.Session()
    pkce = Pkce()
    back = redirect_params(login(browser, server.url, authorize_params(pkce)))
    sid = server.verify(exchange_code(server.url, back["code"], pkce).json()["id_token"],
                        audience="bff-demo")["sid"]
    done = browser.get(f"{server.url}/logout", allow_redirects=False, params={
        "client_id": "bff-demo", "post_logout_redirect_uri": "http://localhost:8000/",
        "logout_hint": sid})
    assert done.status_code == 302
    assert done.headers["Location"] == "http://localhost:8000/"
    after = browser.get(f"{server.url}/authorize", allow_redirects=False,
                        params=authorize_params(Pkce(), prompt="none"))
    assert redirect_params(after)["error"] == "login_required"


def test_logout_hint_naming_another_session_still_asks(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    page = browser.get(f"{server.url}/logout", allow_redirects=False, params={
        "client_id": "bff-demo", "post_logout_redirect_uri": "http://localhost:8000/",
        "logout_hint": "someone-elses-sid"})
    assert page.status_code == 200 and "Sign out?" in page.text
    still_in = browser.get(f"{server.url}/authorize", allow_redirects=False,
                           params=authorize_params(Pkce(), prompt="none"))
    assert "code" in redirect_params(still_in)
