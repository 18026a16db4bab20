"""``private_key_jwt`` (RFC 7523 section 2.2): a client proves who it is with a JWT signed by a
key it registered, so there is no shared secret to leak.

Authlib's ``JWTBearerClientAssertion`` does the parsing and signature check against the
client's registered JWKS (its ``kid`` picks the key; the key's type fixes the algorithm, so
neither ``none`` nor an HMAC keyed with the public key can pass); ours are the rules it leaves
to the server: the audience is this issuer (or, as RFC 7523 allowed, its token endpoint) and
nobody else, the assertion is short-lived, and each ``jti`` is accepted once.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt

from bff.authserver.models import Client
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore

METHOD = "private_key_jwt"
SIGNING_ALGORITHMS = ["ES256", "PS256", "RS256"]
MAX_LIFETIME = 300


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = METHOD

    def __init__(self, settings: AuthServerSettings, store: AuthStore) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._issuer = settings.issuer
        self._store = store

    def get_audiences(self) -> list[str]:
        """draft-ietf-oauth-rfc7523bis: the issuer identifier; RFC 7523's token endpoint too."""
        return [self._issuer, f"{self._issuer}/token"]

    def verify_claims(self, claims: jwt.Claims) -> None:
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) != 1:
            raise InvalidClientError(description="The assertion's audience must be this "
                                     "issuer alone.")
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires - time.time() > MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description="The assertion lives too long.")
        super().verify_claims(claims)

    def validate_jti(self, claims: jwt.Claims, jti: str) -> bool:
        ttl = int(float(claims.get("exp", time.time())) - time.time()) + self.leeway
        return self._store.first_use_of_assertion(str(claims["iss"]), str(jti), max(1, ttl))

    def resolve_client_public_key(self, client: Client) -> dict[str, Any]:
        if not client.config.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        return {"keys": [dict(key) for key in client.config.jwks]}
