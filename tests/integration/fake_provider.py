"""Peers a real provider cannot play: a provider that forges, fails or goes away on demand, and
an upstream API that reports which bearer token reached it.

Both are real HTTP servers (werkzeug, in a thread, on free ports); the BFF under test is a real
``bff serve`` or gunicorn process talking to them. No tests live here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from bff.settings import generate_secret_key
from tests.integration.session_support import (
    UNLIMITED_LOGINS,
    start_gunicorn,
    write_config,
)
from tests.support import BffProcess, free_port, start_bff

CLIENT_ID = "bff-under-test"
OMIT = "omit"

IdTokenMaker = Callable[["FakeProvider", dict[str, Any]], str]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ThreadedServer:
    """A WSGI app served on 127.0.0.1:port from a thread; stop and start again on that port."""

    def __init__(self, app: Callable[..., Any], port: int | None = None) -> None:
        self.port = port or free_port()
        self._app = app
        self._server: BaseWSGIServer | None = None
        self.start()

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """Nothing listens on the port (connection refused) inside the block."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@dataclass
class FakeProvider:
    """An OIDC provider under the test's control: discovery, JWKS, authorize, token, revoke."""

    access_lifetime: int = 300
    make_id_token: IdTokenMaker | None = None
    callback_iss: str | None = None
    authorize_error: tuple[str, str] | None = None
    code_exchanges: int = 0
    token_failures: list[str] = field(default_factory=list)
    on_refresh: Callable[[str], None] | None = None
    refresh_id_claims: dict[str, Any] | None = None
    """When set, refresh answers carry an ID token with these claims (OIDC Core 12.2)."""
    refresh_attempts: int = 0
    refresh_grants: int = 0
    client_grants: int = 0
    revoked: list[str] = field(default_factory=list)
    issued_access: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-signing-key"
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, str]] = {}
        self._live_refresh: set[str] = set()
        self.server = ThreadedServer(self._wsgi)
        self.issuer = f"http://localhost:{self.server.port}"

    def stop(self) -> None:
        self.server.stop()

    # -- what a test shapes ---------------------------------------------------------------
    def id_claims(self, nonce: str) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "exp": now + 300,
                "iat": now, "nonce": nonce, "sid": "provider-session-1", "name": "Fake User",
                "email": "fake@example.com"}

    def sign(self, claims: dict[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"kid": self.kid, **(headers or {})})

    def public_jwk(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    # -- HTTP -----------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        handler = {
            "/.well-known/openid-configuration": self._discovery, "/jwks": self._jwks,
            "/authorize": self._authorize, "/token": self._token, "/revoke": self._revoke,
        }.get(request.path)
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def _discovery(self, request: Request) -> Response:
        return _json({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "revocation_endpoint": f"{self.issuer}/revoke",
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": True,
        })

    def _jwks(self, request: Request) -> Response:
        return _json({"keys": [self.public_jwk()]})

    def _authorize(self, request: Request) -> Response:
        args = request.args
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {"nonce": args.get("nonce", ""),
                                 "challenge": args.get("code_challenge", "")}
        params = {"code": code, "state": args.get("state", "")}
        if self.authorize_error is not None:
            params = {"error": self.authorize_error[0],
                      "error_description": self.authorize_error[1], "state": params["state"]}
        iss = self.callback_iss or self.issuer
        if iss != OMIT:
            params["iss"] = iss
        return Response(status=302,
                        headers={"Location": f"{args['redirect_uri']}?{urlencode(params)}"})

    def _token(self, request: Request) -> Response:
        form = request.form
        grant = form.get("grant_type")
        if grant == "refresh_token":
            with self._lock:
                self.refresh_attempts += 1
            if self.on_refresh is not None:
                self.on_refresh(form.get("refresh_token", ""))
        with self._lock:
            failure = self.token_failures.pop(0) if self.token_failures else None
        if failure == "503":
            return Response("upstream trouble", status=503)
        if failure == "invalid_grant":
            return _json({"error": "invalid_grant"}, 400)
        if grant == "authorization_code":
            return self._code_grant(form.get("code", ""), form.get("code_verifier", ""))
        if grant == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        if grant == "client_credentials":
            with self._lock:
                self.client_grants += 1
            return _json(self._tokens(refresh=False))
        return _json({"error": "unsupported_grant_type"}, 400)

    def _code_grant(self, code: str, verifier: str) -> Response:
        with self._lock:
            self.code_exchanges += 1
            record = self._codes.pop(code, None)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        if record is None or record["challenge"] != challenge:
            return _json({"error": "invalid_grant"}, 400)
        claims = self.id_claims(record["nonce"])
        id_token = self.make_id_token(self, claims) if self.make_id_token else self.sign(claims)
        return _json({**self._tokens(refresh=True), "id_token": id_token})

    def _refresh_grant(self, refresh_token: str) -> Response:
        with self._lock:
            if refresh_token not in self._live_refresh:
                return _json({"error": "invalid_grant"}, 400)
            self._live_refresh.discard(refresh_token)
            self.refresh_grants += 1
        body = self._tokens(refresh=True)
        if self.refresh_id_claims is not None:
            body["id_token"] = self.sign(self.refresh_id_claims)
        return _json(body)

    def grant(self) -> dict[str, Any]:
        """A fresh token response, as if a login had just happened."""
        return self._tokens(refresh=True)

    def _tokens(self, refresh: bool) -> dict[str, Any]:
        access = "fake-at-" + secrets.token_urlsafe(24)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "expires_in": self.access_lifetime,
                                "scope": "openid profile email offline_access"}
        with self._lock:
            self.issued_access.append(access)
            if refresh:
                body["refresh_token"] = "fake-rt-" + secrets.token_urlsafe(24)
                self._live_refresh.add(body["refresh_token"])
        return body

    def _revoke(self, request: Request) -> Response:
        with self._lock:
            token = request.form.get("token", "")
            self.revoked.append(token)
            self._live_refresh.discard(token)
        return Response(status=200)


class EchoApi:
    """An upstream that answers with a digest of the bearer token it received."""

    def __init__(self) -> None:
        self.server = ThreadedServer(self._wsgi)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        body = {"path": request.path, "token_sha256": sha256(token) if token else None}
        return _json(body)(environ, start_response)

    def stop(self) -> None:
        self.server.stop()


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


ROUTES = """
[[routes]]
prefix = "/api/echo"
upstream = "{api}/echo"
methods = ["GET", "POST"]
token = "user"

[[routes]]
prefix = "/api/service"
upstream = "{api}/service"
methods = ["GET"]
token = "client"
"""


def fake_env(provider: FakeProvider, api: EchoApi, redis_url: str, port: int,
             extra: Mapping[str, str] | None = None) -> dict[str, str]:
    config = write_config(ROUTES.format(api=api.url))
    return {
        "BFF_CONFIG": str(config), "BFF_BASE_URL": f"http://localhost:{port}",
        "BFF_ISSUER": provider.issuer, "BFF_CLIENT_ID": CLIENT_ID,
        "BFF_CLIENT_SECRET": "fake-secret", "BFF_SECRET_KEYS": generate_secret_key(),
        "BFF_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **UNLIMITED_LOGINS,
        **(extra or {}),
    }


def start_fake_bff(provider: FakeProvider, api: EchoApi, redis_url: str,
                   extra: Mapping[str, str] | None = None) -> tuple[BffProcess, dict[str, str]]:
    """`bff serve` against the fake provider; returns the process and its environment."""
    port = free_port()
    env = fake_env(provider, api, redis_url, port, extra)
    return start_bff(["serve", "--port", str(port)], port, env=env), env


def start_fake_gunicorn(provider: FakeProvider, api: EchoApi, redis_url: str,
                        extra: Mapping[str, str] | None = None) -> BffProcess:
    port = free_port()
    return start_gunicorn(fake_env(provider, api, redis_url, port, extra), port=port)


def fake_login(browser: requests.Session, bff_url: str) -> requests.Response:
    """Login against the fake provider, which authorizes at once: the callback's response."""
    start = browser.get(f"{bff_url}/bff/login", params={"returnUrl": "/"},
                        allow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = browser.get(start.headers["Location"], allow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    return browser.get(authorize.headers["Location"], allow_redirects=False)
