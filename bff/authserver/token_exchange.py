"""The RFC 8693 token exchange grant, for on-behalf-of calls between services.

A confidential service holding a user's access token (one issued for the service itself) asks
for a token for another service: the result names the same user (`sub`), the new audience, at
most the scopes both the subject token and the service hold, and an `act` claim naming the
service (section 4.1; nested when the subject token already had an actor). Which audiences a
service may exchange for is its policy in `[[clients]]`: `token_exchange = { audiences = [...] }`.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import list_to_scope, scope_to_list
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin
from flask import g

from bff.authserver.keys import KeyStore
from bff.authserver.models import Authenticated, Client
from bff.authserver.resources import InvalidTargetError, asked_resources
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange_target(audiences: list[str], resources: list[str], policy: tuple[str, ...]) -> str:
    """The one audience the new token is for: named by ``audience`` or ``resource`` (section
    2.1), and within the client's policy."""
    targets = list(dict.fromkeys([*audiences, *resources]))
    if len(targets) != 1:
        raise InvalidTargetError("Name exactly one audience or resource to exchange for.")
    if targets[0] not in policy:
        raise InvalidTargetError(f"This client may not exchange tokens for {targets[0]}.")
    return targets[0]


def exchanged_scope(requested: str | None, subject: str, client_scopes: tuple[str, ...]) -> str:
    """No wider than the subject token's scopes and the client's (section 2.1: ``scope``)."""
    held = set(scope_to_list(subject) or []) & set(client_scopes)
    wanted = scope_to_list(requested) if requested else scope_to_list(subject)
    return list_to_scope([s for s in wanted or [] if s in held])


def actor_claim(client_id: str, subject_claims: dict[str, Any]) -> dict[str, Any]:
    """Section 4.1: the current actor, with any prior chain of delegation nested inside."""
    act: dict[str, Any] = {"sub": client_id}
    if isinstance(subject_claims.get("act"), dict):
        act["act"] = subject_claims["act"]
    return act


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    settings: AuthServerSettings
    store: AuthStore
    keys: KeyStore

    def validate_token_request(self) -> None:
        from bff.authserver.tokens import decode_access_token

        client: Client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError("This client may not exchange tokens.")
        data = self.request.payload.data
        if data.get("subject_token_type") != ACCESS_TOKEN_TYPE or not data.get("subject_token"):
            raise InvalidRequestError("Send an access token as subject_token with "
                                      f"subject_token_type={ACCESS_TOKEN_TYPE}.")
        if data.get("actor_token") or data.get("requested_token_type") not in (
                None, ACCESS_TOKEN_TYPE):
            raise InvalidRequestError("Only access tokens are exchanged, without actor_token.")
        datalist = self.request.payload.datalist
        target = exchange_target(list(datalist.get("audience", [])), asked_resources(datalist),
                                 client.config.token_exchange_audiences)
        claims = decode_access_token(data["subject_token"], self.keys, self.settings.issuer)
        if claims is None or self.store.jti_revoked(str(claims["jti"])):
            raise InvalidGrantError("The subject token is not a valid access token.")
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [
            claims.get("aud")]
        if client.audience not in audiences:
            raise InvalidGrantError("The subject token was not issued for this client.")
        user = self.settings.user_by_subject(str(claims["sub"]))
        if user is None:
            raise InvalidGrantError("The subject token names no user of this server.")
        self.request.client = client
        self.request.user = Authenticated(user=user, sid=str(claims.get("sid", "")),
                                          auth_time=int(claims.get("auth_time", 0)))
        self._scope = exchanged_scope(self.request.payload.scope, str(claims.get("scope", "")),
                                      client.config.scopes)
        g.bff_as_audience = target
        g.bff_as_extra_claims = {"act": actor_claim(client.client_id, claims)}

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(user=self.request.user, scope=self._scope,
                                    include_refresh_token=False)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def bind_exchange(settings: AuthServerSettings, store: AuthStore, keys: KeyStore) -> type:
    return type("TokenExchangeGrant", (TokenExchangeGrant,),
                {"settings": settings, "store": store, "keys": keys})
