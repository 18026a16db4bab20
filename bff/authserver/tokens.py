"""Signed tokens: RFC 9068 access tokens, OIDC ID tokens, and reading our own access tokens back.

Signing goes through Authlib's generators (joserfc underneath); reading back, for userinfo,
revocation and introspection, goes through PyJWT with an explicit algorithm per key.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants.code import OpenIDToken
from flask import g
from joserfc.jwk import KeySet

from bff.authserver.keys import KeyStore, StoredKey
from bff.authserver.models import Authenticated, Client
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore, new_secret


def request_signing_key(keys: KeyStore) -> StoredKey:
    """One signing key per HTTP request, so a concurrent rotation cannot split a response."""
    key = g.get("bff_as_signing_key")
    if key is None:
        key = g.bff_as_signing_key = keys.signing_key()
    return key


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens whose `aud` is the client's API and whose `jti` is remembered,
    so a revoked grant can revoke the access tokens it issued."""

    def __init__(self, settings: AuthServerSettings, key: StoredKey) -> None:
        super().__init__(
            issuer=settings.issuer, alg=key.alg,
            refresh_token_generator=lambda **_: new_secret(),
            expires_generator=lambda client, grant_type: settings.access_token_lifetime,
        )
        self._key = key
        self.issued: tuple[str, int] | None = None
        self._lifetime = settings.access_token_lifetime

    def get_jwks(self) -> KeySet:
        return KeySet([self._key.private_key])

    def get_audiences(self, client: Client, user: Any, scope: str) -> str:
        """The one resource the token request named (RFC 8707), else the client's API."""
        return g.get("bff_as_audience") or client.audience

    def get_extra_claims(self, client: Client, grant_type: str, user: Any,
                         scope: str) -> dict[str, Any]:
        """The actor of an exchanged token (RFC 8693 section 4.1), when the grant names one,
        and the key a DPoP-bound token is bound to (RFC 9449 section 6.1)."""
        claims = dict(g.get("bff_as_extra_claims") or {})
        if g.get("bff_as_dpop_jkt"):
            claims["cnf"] = {"jkt": g.bff_as_dpop_jkt}
        return claims

    def get_auth_time(self, user: Any) -> int | None:
        if isinstance(user, Authenticated) and user.auth_time:
            return user.auth_time
        return None

    def get_jti(self, client: Client, grant_type: str, user: Any, scope: str) -> str:
        jti = new_secret(16)
        self.issued = (jti, int(time.time()) + self._lifetime)
        return jti


def token_generator(settings: AuthServerSettings, keys: KeyStore):
    """Authlib's "default" token generator: a fresh generator bound to the current signing key."""

    def generate(grant_type, client, user=None, scope=None, expires_in=None,
                 include_refresh_token=True):
        generator = AccessTokenGenerator(settings, request_signing_key(keys))
        token = generator(grant_type, client, user, scope, expires_in, include_refresh_token)
        if g.get("bff_as_dpop_jkt"):
            token["token_type"] = "DPoP"
        g.bff_as_issued_access_token = generator.issued
        return token

    return generate


def user_claims(user: Authenticated, scope: str) -> dict[str, Any]:
    """Claims about the user that `scope` allows, plus the provider session they came from."""
    scopes = scope_to_list(scope) or []
    claims: dict[str, Any] = {"sub": user.user.subject}
    if "profile" in scopes and user.user.name:
        claims["name"] = user.user.name
        claims["preferred_username"] = user.user.username
    if "email" in scopes and user.user.email:
        claims["email"] = user.user.email
    if "roles" in scopes:
        claims["roles"] = list(user.user.roles)
    return claims


class IdTokenMixin:
    """ID tokens signed with the current key, `aud` the client, carrying `sid` and `auth_time`."""

    settings: AuthServerSettings
    keys: KeyStore

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return KeySet([request_signing_key(self.keys).private_key])

    def get_client_algorithm(self, client: Client) -> str:
        return request_signing_key(self.keys).alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = request_signing_key(self.keys)
        return {"alg": key.alg, "kid": key.kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.settings.issuer, "aud": client.get_client_id(), "iat": now,
                "exp": now + self.settings.id_token_lifetime}

    def generate_user_info(self, user: Authenticated, scope: str) -> UserInfo:
        claims = user_claims(user, scope)
        if user.sid:
            claims["sid"] = user.sid
        if user.auth_time:
            claims["auth_time"] = user.auth_time
        return UserInfo(claims)


class CodeIdToken(IdTokenMixin, OpenIDCode):
    """OIDC for the authorization code grant; a nonce is accepted once per client."""

    def __init__(self, settings: AuthServerSettings, keys: KeyStore, store: AuthStore) -> None:
        super().__init__(require_nonce=False)
        self.settings = settings
        self.keys = keys
        self.store = store

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.store.nonce_used(request.payload.client_id, nonce)


class RefreshIdToken(IdTokenMixin, OpenIDToken):
    """A fresh ID token on refresh (same `sid` and `auth_time`, no nonce), as OIDC allows."""

    def __init__(self, settings: AuthServerSettings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys


def decode_access_token(token: str, keys: KeyStore, issuer: str,
                        verify_exp: bool = True) -> dict[str, Any] | None:
    """The claims of an access token this server signed with a published key, else None."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if header.get("typ") != "at+jwt":
        return None
    key = next((k for k in keys.published() if k.kid == header.get("kid")), None)
    if key is None:
        return None
    try:
        return jwt.decode(
            token, jwt.PyJWK(key.public_jwk).key, algorithms=[key.alg], issuer=issuer,
            options={"verify_aud": False, "verify_exp": verify_exp,
                     "require": ["iss", "sub", "exp", "iat", "jti", "client_id"]},
        )
    except jwt.PyJWTError:
        return None
