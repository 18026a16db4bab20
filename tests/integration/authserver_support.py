"""Shared helpers for the authorization server tests: a real server process, a browser-like
login, PKCE. (A module of helpers, not tests; the test modules import from it.)"""

from __future__ import annotations

import base64
import hashlib
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests

from bff.authserver.passwords import hash_password
from bff.sansio.forms import first_form
from tests.support import BffProcess, free_port, start_bff

BFF_SECRET = "test-bff-secret"
SERVICE_SECRET = "test-service-secret"
# Provider-generated secrets are often base64: '+', '/', '=' and, here, '%' and a space too.
AWKWARD_SECRET = "a+b/c%d=e f"
RESOURCE_SECRET = "test-resource-secret"
TRUSTED_SECRET = "test-trusted-secret"
OTHER_SECRET = "test-other-secret"
REDIRECT_URI = "http://localhost:8000/bff/callback"
FULL_SCOPE = "openid profile email offline_access orders:read orders:write"


EXCHANGER_SECRET = "orders-api-exchanger-secret"


def config_text(*, backchannel_uri: str = "http://127.0.0.1:9/unused", extra: str = "") -> str:
    """A test configuration: the demo's users and clients plus clients for every grant."""
    h = hash_password
    return f"""
issuer = "http://localhost:1"
access_token_lifetime = 900
refresh_token_lifetime = 3600
{extra}

[login]
max_failures_per_user = 5
max_failures_per_address = 1000

[[users]]
username = "alice"
password_hash = "{h('wonderland')}"
name = "Alice Liddell"
email = "alice@example.com"
scopes = ["orders:read", "orders:write"]
roles = ["stock-viewer"]

[[users]]
username = "bob"
password_hash = "{h('builder')}"
name = "Bob the Builder"
email = "bob@example.com"
scopes = ["orders:read"]

[[clients]]
client_id = "bff-demo"
client_secret_hash = "{h(BFF_SECRET)}"
redirect_uris = ["{REDIRECT_URI}"]
post_logout_redirect_uris = ["http://localhost:8000/"]
backchannel_logout_uri = "{backchannel_uri}"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access", "roles", "orders:read",
          "orders:write"]
audience = "demo-api"
resources = ["https://orders.test", "https://stock.test"]

[[clients]]
client_id = "other-app"
client_secret_hash = "{h(OTHER_SECRET)}"
redirect_uris = ["http://localhost:9000/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "orders:read"]
audience = "other-api"

[[clients]]
client_id = "demo-service"
client_secret_hash = "{h(SERVICE_SECRET)}"
grant_types = ["client_credentials"]
scopes = ["orders:read"]
audience = "demo-api"
resources = ["https://orders.test"]

[[clients]]
client_id = "demo-api"
client_secret_hash = "{h(RESOURCE_SECRET)}"
grant_types = []
scopes = []
introspection = true

# A service that exchanges the user tokens it receives (aud demo-api) for the stock API.
[[clients]]
client_id = "orders-api"
client_secret_hash = "{h(EXCHANGER_SECRET)}"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
scopes = ["orders:read"]
audience = "demo-api"
token_exchange = {{ audiences = ["https://stock.test"] }}

[[clients]]
client_id = "first-party-cli"
client_secret_hash = "{h(TRUSTED_SECRET)}"
grant_types = ["password", "refresh_token"]
trusted_first_party = true
scopes = ["openid", "profile", "orders:read", "orders:write"]
audience = "demo-api"

[[clients]]
client_id = "awkward service"
client_secret_hash = "{h(AWKWARD_SECRET)}"
grant_types = ["client_credentials"]
scopes = ["orders:read"]
audience = "demo-api"
"""


@dataclass
class AuthServer:
    process: BffProcess
    key_dir: Path
    config_path: Path

    @property
    def url(self) -> str:
        return self.process.url

    def stop(self) -> None:
        self.process.stop()

    def jwks_client(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(f"{self.url}/jwks", cache_keys=False)

    @property
    def issuer(self) -> str:
        return requests.get(f"{self.url}/.well-known/openid-configuration").json()["issuer"]

    def verify(self, token: str, audience: str, typ: str | None = None) -> dict[str, Any]:
        """Check a JWT the way a relying party or resource server would, with PyJWT."""
        header = jwt.get_unverified_header(token)
        if typ is not None:
            assert header["typ"] == typ
        key = self.jwks_client().get_signing_key(header["kid"])
        return jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=audience,
                          issuer=self.issuer)


def authserver_env(redis_url: str, key_dir: Path, issuer: str) -> dict[str, str]:
    return {"BFF_AUTHSERVER_ISSUER": issuer, "BFF_AUTHSERVER_REDIS_URL": redis_url,
            "BFF_AUTHSERVER_KEY_DIR": str(key_dir)}


def start_authserver(redis_url: str, *, config: str | None = None,
                     key_dir: Path | None = None, issuer: str | None = None) -> AuthServer:
    """`bff authserver` as a real process on a free port, with its own key directory unless
    told to share one (and its own issuer unless told to act as another instance of one)."""
    work = Path(tempfile.mkdtemp(prefix="bff-test-authserver-"))
    key_dir = key_dir or work / "keys"
    config_path = work / "authserver.toml"
    config_path.write_text(config or config_text(), encoding="utf-8")
    port = free_port()
    env = authserver_env(redis_url, key_dir, issuer or f"http://localhost:{port}")
    process = start_bff(["authserver", "--config", str(config_path), "--port", str(port)],
                        port, env=env)
    return AuthServer(process=process, key_dir=key_dir, config_path=config_path)


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_params(pkce: Pkce, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": "bff-demo", "redirect_uri": REDIRECT_URI,
        "scope": FULL_SCOPE, "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8), "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


@dataclass(frozen=True)
class LoginForm:
    action: str
    csrf_token: str


def login_form(response: requests.Response) -> LoginForm:
    assert response.status_code in (200, 400, 401, 429), response.text
    form = first_form(response.text)
    assert form.action and form.fields.get("csrf_token"), response.text
    return LoginForm(action=form.action, csrf_token=form.fields["csrf_token"])


def submit_login(browser: requests.Session, base: str, form: LoginForm, username: str,
                 password: str) -> requests.Response:
    return browser.post(base + form.action, allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": form.csrf_token})


def login(browser: requests.Session, base: str, params: dict[str, str],
          username: str = "alice", password: str = "wonderland") -> requests.Response:
    """GET /authorize, post the login form; return the redirect back to the client."""
    page = browser.get(f"{base}/authorize", params=params, allow_redirects=False)
    response = submit_login(browser, base, login_form(page), username, password)
    assert response.status_code == 302, response.text
    return response


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange_code(base: str, code: str, pkce: Pkce, *, client: tuple[str, str] = (
        "bff-demo", BFF_SECRET), redirect_uri: str = REDIRECT_URI,
        verifier: str | None = None) -> requests.Response:
    return requests.post(f"{base}/token", auth=client, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier if verifier is not None else pkce.verifier})


def refresh(base: str, refresh_token: str, client: tuple[str, str] = ("bff-demo", BFF_SECRET)
            ) -> requests.Response:
    return requests.post(f"{base}/token", auth=client, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token})


def tokens_for(server: AuthServer, username: str = "alice", password: str = "wonderland",
               browser: requests.Session | None = None, **overrides: str | None
               ) -> dict[str, Any]:
    """A complete login: the token response of a fresh authorization code + PKCE flow (in
    ``browser`` when given, so it keeps the provider session)."""
    pkce = Pkce()
    browser = browser or requests.Session()
    params = redirect_params(login(browser, server.url, authorize_params(pkce, **overrides),
                                   username, password))
    response = exchange_code(server.url, params["code"], pkce)
    assert response.status_code == 200, response.text
    return response.json()


def signed_by_server(server: AuthServer, claims: dict[str, Any],
                     typ: str = "at+jwt") -> str:
    """A JWT signed with the server's own current private key, for claims a test needs that
    the server would not issue on request (an access token that has already expired)."""
    import json

    newest = max(server.key_dir.glob("*.json"),
                 key=lambda p: json.loads(p.read_text())["created_at"])
    jwk = json.loads(newest.read_text())["jwk"]
    return jwt.encode(claims, jwt.PyJWK(jwk).key, algorithm=jwk["alg"],
                      headers={"kid": jwk["kid"], "typ": typ})


def introspect(server: AuthServer, token: str, client: tuple[str, str] = (
        "demo-api", RESOURCE_SECRET), **extra: str) -> dict[str, Any]:
    response = requests.post(f"{server.url}/introspect", auth=client,
                             data={"token": token, **extra})
    assert response.status_code == 200, response.text
    return response.json()
