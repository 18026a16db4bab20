"""The grants this server offers, as Authlib grant classes bound to our Redis store.

Where we are stricter than Authlib's defaults, the reason is a security property:
PKCE S256 for every client, single-use codes whose replay revokes what they issued, refresh
tokens that rotate and whose reuse revokes the whole family (RFC 9700), client credentials limited
to the client's registered scopes, and the password grant for trusted first-party clients only.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import grants, list_to_scope, scope_to_list
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import g
from flask import request as flask_request

from bff.authserver.login import check_credentials
from bff.authserver.models import Authenticated, Client, is_api_scope, limit_to_user
from bff.authserver.par import InvalidRequestUri, PushedPayload
from bff.authserver.resources import (
    InvalidTargetError,
    asked_resources,
    granted_at_authorization,
    token_audience,
)
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthorizationCode, AuthStore, RefreshToken, new_secret

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class S256CodeChallenge(CodeChallenge):
    """PKCE for every client, S256 only: `plain` and a missing challenge are refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' "
                                      "with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class ResourceBound:
    """Tokens for the one resource a token request names (RFC 8707 section 2.2), among those
    the grant covers (``granted_resources``); the token generator reads the audience."""

    request: Any

    def granted_resources(self) -> tuple[str, ...]:
        return ()

    def validate_token_request(self) -> None:
        """Judged with the rest of the request, before anything is spent: a refresh token is
        rotated only for a request that will get its token."""
        super().validate_token_request()  # type: ignore[misc]
        client: Client = self.request.client
        g.bff_as_audience = token_audience(asked_resources(self.request.payload.datalist),
                                           self.granted_resources(), client.config.resources)


class AuthorizationCodeGrant(ResourceBound, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    settings: AuthServerSettings
    store: AuthStore

    def validate_authorization_request(self) -> str:
        pushed = isinstance(self.request.payload, PushedPayload)
        client_id = self.request.payload.client_id
        config = self.settings.client(client_id) if client_id else None
        if not pushed and (self.settings.require_pushed_authorization_requests or (
                config is not None and config.require_pushed_authorization_requests)):
            raise InvalidRequestError("This client must push its authorization requests "
                                      "(RFC 9126).")
        redirect_uri = super().validate_authorization_request()
        client: Client = self.request.client
        try:
            granted_at_authorization(asked_resources(self.request.payload.datalist),
                                     client.config.resources)
        except InvalidTargetError as error:
            error.redirect_uri = redirect_uri or client.get_default_redirect_uri()
            error.state = self.request.payload.state
            raise
        return redirect_uri

    def granted_resources(self) -> tuple[str, ...]:
        return tuple(self.request.authorization_code.resources.split())

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: Authenticated = request.user
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=limit_to_user(request.scope, user.user),
            sub=user.user.subject,
            sid=user.sid,
            auth_time=user.auth_time,
            family_id=new_secret(16),
            code_challenge=data.get("code_challenge", ""),
            code_challenge_method=data.get("code_challenge_method", ""),
            nonce=data.get("nonce", "") or "",
            resources=" ".join(dict.fromkeys(asked_resources(request.payload.datalist))),
        )
        payload = request.payload
        if isinstance(payload, PushedPayload) and \
                not self.store.spend_pushed_request(payload.request_uri):
            raise InvalidRequestUri("This login link was already used.")
        self.store.save_code(code, record, self.settings.code_lifetime)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        record, replayed_family = self.store.consume_code(code)
        if replayed_family:
            # RFC 6749 section 4.1.2: a code used twice revokes the tokens it issued.
            self.store.revoke_family(replayed_family, self.settings.refresh_token_lifetime)
            return None
        if record is None or record.client_id != client.client_id:
            return None
        return record

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing left to delete: `query_authorization_code` consumed the code atomically."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Authenticated | None:
        user = self.settings.user_by_subject(authorization_code.sub)
        if user is None:
            return None
        return Authenticated(user=user, sid=authorization_code.sid,
                             auth_time=authorization_code.auth_time)


class RefreshTokenGrant(ResourceBound, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    settings: AuthServerSettings
    store: AuthStore

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        record = self.store.refresh_token(refresh_token)
        if record is None:
            return None
        if record.state == "rotated":
            # RFC 9700 section 4.14.2: a rotated token coming back means two parties hold it.
            self.store.revoke_family(record.family_id, self.settings.refresh_token_lifetime)
            return None
        if record.is_revoked() or record.is_expired() or self.store.family_revoked(
                record.family_id):
            return None
        if record.dpop_jkt and record.dpop_jkt != g.get("bff_as_dpop_jkt"):
            # RFC 9449 section 5.2: a bound refresh token needs a proof of its key.
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshToken) -> Authenticated:
        user = self.settings.user_by_subject(refresh_token.sub)
        if user is None:
            raise InvalidGrantError("The user of this refresh token no longer exists.")
        return Authenticated(user=user, sid=refresh_token.sid, auth_time=refresh_token.auth_time)

    def issue_token(self, user: Authenticated, refresh_token: RefreshToken) -> dict[str, Any]:
        if not self.store.rotate_refresh_token(refresh_token.token_hash):
            # Lost a race against another use of the same token: that is reuse too.
            self.store.revoke_family(refresh_token.family_id,
                                     self.settings.refresh_token_lifetime)
            raise InvalidGrantError()
        scope = self.request.payload.scope or refresh_token.get_scope()
        self.request.user = user
        return self.generate_token(user=user, scope=limit_to_user(scope, user.user),
                                   include_refresh_token=True)

    def granted_resources(self) -> tuple[str, ...]:
        return tuple(self.request.refresh_token.resources.split())

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Already done: `issue_token` rotated the old token before issuing."""


class ClientCredentialsGrant(ResourceBound, grants.ClientCredentialsGrant):
    """Service-to-service tokens; asking beyond the client's registered scopes is refused."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        client: Client = self.request.client
        requested = scope_to_list(self.request.payload.scope) or []
        registered = [s for s in client.config.scopes if is_api_scope(s)]
        if not set(requested) <= set(registered):
            raise InvalidScopeError("The client is not registered for the requested scope.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: Client = self.request.client
        scope = self.request.payload.scope or list_to_scope(
            [s for s in client.config.scopes if is_api_scope(s)])
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """The resource owner password grant, for clients marked `trusted_first_party` only."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    settings: AuthServerSettings
    store: AuthStore

    def authenticate_user(self, username: str, password: str) -> Authenticated:
        outcome = check_credentials(self.settings, self.store, username, password,
                                    flask_request.remote_addr or "")
        if outcome.throttled:
            raise InvalidGrantError("Too many failed logins; try again later.")
        if outcome.user is None:
            raise InvalidGrantError("Invalid username or password.")
        return Authenticated(user=outcome.user, auth_time=int(time.time()))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        user: Authenticated = self.request.user
        client: Client = self.request.client
        scope = limit_to_user(client.get_allowed_scope(self.request.payload.scope), user.user)
        token = self.generate_token(user=user, scope=scope,
                                    include_refresh_token=client.check_grant_type("refresh_token"))
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def bind(grant_cls: type, settings: AuthServerSettings, store: AuthStore) -> type:
    """A subclass of `grant_cls` that knows our settings and store (Authlib builds grants per
    request from the class, so dependencies travel as class attributes)."""
    return type(grant_cls.__name__, (grant_cls,), {"settings": settings, "store": store})
