"""Revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout, on Authlib endpoints.

Both token endpoints accept our JWT access tokens (checked against the published keys) and our
opaque refresh tokens (looked up in Redis). Revoking a refresh token ends its whole family,
including the access tokens issued from it; revoking an access token records its `jti` until
it would have expired, which is what introspection (and thus the resource-server helper's
optional introspection) sees.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import g
from joserfc.jwk import KeySet

from bff.authserver.grants import CLIENT_AUTH_METHODS
from bff.authserver.keys import KeyStore
from bff.authserver.models import Client
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore, RefreshToken
from bff.authserver.tokens import decode_access_token


@dataclass(frozen=True)
class AccessToken:
    """One of our JWT access tokens, read back; implements Authlib's token protocol."""

    claims: dict[str, Any]
    revoked: bool = False

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


class TokenLookup:
    """Finds a presented token, whichever kind it is, with its current revocation state."""

    settings: AuthServerSettings
    store: AuthStore
    keys: KeyStore

    def query_token(self, token_string: str, token_type_hint: str | None
                    ) -> AccessToken | RefreshToken | None:
        order = [self._refresh, self._access]
        if token_type_hint == "access_token":
            order.reverse()
        for lookup in order:
            token = lookup(token_string)
            if token is not None:
                return token
        return None

    def _refresh(self, token_string: str) -> RefreshToken | None:
        record = self.store.refresh_token(token_string)
        if record is not None and record.state == "active" and self.store.family_revoked(
                record.family_id):
            record = dataclasses.replace(record, state="revoked")
        return record

    def _access(self, token_string: str) -> AccessToken | None:
        claims = decode_access_token(token_string, self.keys, self.settings.issuer,
                                     verify_exp=False)
        if claims is None:
            return None
        return AccessToken(claims=claims, revoked=self.store.jti_revoked(str(claims["jti"])))


class RevocationEndpoint(TokenLookup, _RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def revoke_token(self, token: AccessToken | RefreshToken, request: Any) -> None:
        if isinstance(token, RefreshToken):
            # RFC 7009 section 2.1: also invalidate the access tokens of the same grant.
            self.store.revoke_refresh_token(token.token_hash)
            self.store.revoke_family(token.family_id, self.settings.refresh_token_lifetime)
        else:
            self.store.revoke_jti(str(token.claims["jti"]), int(token.claims["exp"]))


class IntrospectionEndpoint(TokenLookup, _IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_permission(self, token: AccessToken | RefreshToken, client: Client,
                         request: Any) -> bool:
        """The client the token was issued to, or a resource server allowed to introspect."""
        return token.check_client(client) or client.config.introspection

    def introspect_token(self, token: AccessToken | RefreshToken) -> dict[str, Any]:
        if isinstance(token, RefreshToken):
            # RFC 7662 2.2: token_type is an RFC 6749 5.1 access token type; none fits here.
            return {"active": True, "scope": token.scope,
                    "client_id": token.client_id, "sub": token.sub, "iss": self.settings.issuer,
                    "exp": token.expires_at, "iat": token.issued_at}
        claims = token.claims
        payload = {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer"}
        payload.update({name: claims[name] for name in (
            "scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "auth_time", "cnf",
            "act") if name in claims})
        return payload


class EndSessionEndpoint(_EndSessionEndpoint):
    """RP-initiated logout; the actual ending is done by the view (it owns the cookie)."""

    keys: KeyStore

    def get_server_jwks(self) -> KeySet:
        return self.keys.public_key_set()

    def get_algorithms(self) -> list[str]:
        return self.keys.algorithms()

    def is_post_logout_redirect_uri_legitimate(self, request: Any, post_logout_redirect_uri: str,
                                               client: Any, logout_hint: str | None) -> bool:
        """Without an ID token hint, redirect (to a registered URI only) once the user has
        confirmed (the CSRF-checked POST of our own page), or when the client named the
        browser's provider session as ``logout_hint`` (checked by the view, in ``g``)."""
        return request.method == "POST" or bool(g.get("logout_hint_matches"))

    def end_session(self, end_session_request: Any) -> None:
        """Done by the view before the response, where the browser's session is known."""


def bind(endpoint_cls: type, **dependencies: Any) -> type:
    return type(endpoint_cls.__name__, (endpoint_cls,), dependencies)
