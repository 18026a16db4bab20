"""A real, local token issuer for tests of services that use ``bff.resource``; never for production.

``LocalIssuer`` listens on 127.0.0.1 (a free port) and serves what a real issuer would:

    /.well-known/openid-configuration   discovery: issuer, jwks_uri, introspection_endpoint
    /jwks                               the published public keys
    /introspect                         RFC 7662, client_secret_basic

and mints RFC 9068 access tokens with its keys, so a service's tests need neither an
authorization server nor mocks. Keys can be added, published and withdrawn to exercise rotation;
tokens can be revoked so introspection reports them inactive. ``TokenMint`` mints the same
tokens with no server, for unit tests that hand its ``jwks()`` straight to a ``JwksCache``;
``forge_unsigned`` and ``forge_hmac_with_public_key`` build the two classic forgeries, so a
service can prove it refuses them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, jsonify, request
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from werkzeug.serving import make_server


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = None) -> SigningKey:
        if alg == "RS256":
            private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(
                public_exponent=65537, key_size=2048
            )
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"LocalIssuer signs with RS256 or ES256, not {alg}")
        return cls(kid=kid or secrets.token_hex(8), alg=alg, private_key=private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def forge_unsigned(token: str) -> str:
    """The ``alg: none`` attack on a real token: same header and claims, no signature."""
    header, payload = _unverified(token)
    header.pop("alg", None)
    return jwt.encode(payload, None, algorithm="none", headers=header)


def forge_hmac_with_public_key(token: str, public_key: bytes) -> str:
    """The algorithm-confusion attack: HS256 keyed with the issuer's *public* key.

    Built by hand because PyJWT rightly refuses to HMAC with an asymmetric key.
    """
    header, payload = _unverified(token)
    header["alg"] = "HS256"
    segments = (_b64url(json.dumps(part).encode()) for part in (header, payload))
    signing_input = ".".join(segments)
    signature = hmac.new(public_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


class TokenMint:
    """Keys and RFC 9068 access tokens for ``issuer``, with no server: for pure unit tests."""

    def __init__(self, issuer: str, *, audience: str = "demo-api") -> None:
        self.issuer = issuer
        self.audience = audience
        self._lock = threading.Lock()
        self._published: dict[str, SigningKey] = {}
        self._minted: dict[str, dict[str, Any]] = {}
        self.default_key = self.new_key()

    def new_key(self, alg: str = "RS256", *, publish: bool = True) -> SigningKey:
        key = SigningKey.generate(alg)
        if publish:
            self.publish(key)
        return key

    def publish(self, key: SigningKey) -> None:
        with self._lock:
            self._published[key.kid] = key

    def withdraw(self, key: SigningKey) -> None:
        with self._lock:
            self._published.pop(key.kid, None)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for key in self._published.values()]}

    def mint(self, sub: str = "alice", scope: str = "orders:read orders:write", *,
             key: SigningKey | None = None, lifetime: int = 300,
             claims: Mapping[str, Any] | None = None,
             header: Mapping[str, Any] | None = None) -> str:
        """An access token; a ``None`` value in ``claims`` or ``header`` leaves that entry out."""
        key = key or self.default_key
        now = int(time.time())
        payload = {
            "iss": self.issuer, "sub": sub, "aud": self.audience, "iat": now,
            "exp": now + lifetime, "jti": secrets.token_urlsafe(12), "client_id": "bff",
            "scope": scope, **(claims or {}),
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {"typ": "at+jwt", "kid": key.kid, **(header or {})}
        headers = {name: value for name, value in headers.items() if value is not None}
        headers.setdefault("typ", None)  # PyJWT adds "typ": "JWT" unless told not to
        token = jwt.encode(payload, key.private_key, algorithm=key.alg, headers=headers)
        with self._lock:
            self._minted[token] = payload
        return token


class LocalIssuer(TokenMint):
    """Start with ``with LocalIssuer() as issuer:``; ``issuer.url`` is its issuer identifier."""

    def __init__(self, *, audience: str = "demo-api", client_id: str = "demo-api",
                 client_secret: str = "demo-api-secret") -> None:
        self._server = make_server("127.0.0.1", 0, self._make_app(), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        super().__init__(self.url, audience=audience)
        self.client_id = client_id
        self._client_secret = client_secret
        self._revoked: set[str] = set()
        self.jwks_fetches = 0
        self.introspections = 0
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def _introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            self.introspections += 1
            payload = self._minted.get(token)
            if payload is None or token in self._revoked or payload["exp"] <= time.time():
                return {"active": False}
        return {"active": True, "token_type": "Bearer", **payload}

    def _client_authenticated(self) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username is None or auth.password is None:
            return False
        return (hmac.compare_digest(unquote(auth.username).encode(), self.client_id.encode())
                and hmac.compare_digest(unquote(auth.password).encode(),
                                        self._client_secret.encode()))

    def _make_app(self) -> Flask:
        app = Flask(__name__)

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return {"issuer": self.url, "jwks_uri": f"{self.url}/jwks",
                    "introspection_endpoint": f"{self.url}/introspect"}

        @app.get("/jwks")
        def jwks():
            with self._lock:
                self.jwks_fetches += 1
            return self.jwks()

        @app.post("/introspect")
        def introspect():
            if not self._client_authenticated():
                response = jsonify({"error": "invalid_client"})
                response.status_code = 401
                response.headers["WWW-Authenticate"] = 'Basic realm="introspection"'
                return response
            return self._introspect(request.form.get("token", ""))

        return app
