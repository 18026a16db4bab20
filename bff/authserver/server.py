"""Authlib's AuthorizationServer wired to our clients, grants, endpoints and token storage."""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import g
from flask import request as flask_request

from bff.authserver import endpoints, grants
from bff.authserver.client_assertion import PrivateKeyJwt
from bff.authserver.client_auth import authenticate_client_secret_basic
from bff.authserver.keys import KeyStore
from bff.authserver.models import Authenticated, Client
from bff.authserver.par import pushed_payload
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore, RefreshToken, digest, new_secret
from bff.authserver.token_exchange import bind_exchange
from bff.authserver.tokens import CodeIdToken, RefreshIdToken, token_generator


class PublicRequest(OAuth2Request):
    """The Flask request as seen from the issuer's public URL (behind a TLS-terminating proxy
    the socket says http, but the issuer, which the settings force to https, is the truth)."""

    def __init__(self, issuer: str, store: AuthStore) -> None:
        query = flask_request.query_string.decode("latin-1")
        uri = issuer + flask_request.path + (f"?{query}" if query else "")
        super().__init__(method=flask_request.method, uri=uri, headers=flask_request.headers)
        self._request = flask_request
        pushed = pushed_payload(store, flask_request.args) \
            if flask_request.path.endswith("/authorize") else None
        self.payload = pushed or FlaskOAuth2Payload(flask_request)

    @property
    def args(self) -> Any:
        return self._request.args

    @property
    def form(self) -> Any:
        return self._request.form


class Issuer(IssuerParameter):
    """RFC 9207: every authorization response names its issuer."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class Server(AuthorizationServer):
    def __init__(self, settings: AuthServerSettings, store: AuthStore, keys: KeyStore) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.keys = keys
        self._clients = {c.client_id: Client(c) for c in settings.clients}
        self.scopes_supported = list(settings.scopes_supported)
        self.register_token_generator("default", token_generator(settings, keys))

    def query_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return PublicRequest(self.settings.issuer, self.store)

    def client_auth_methods(self) -> list[str]:
        return list(grants.CLIENT_AUTH_METHODS)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Remember what a grant issued: the refresh token (hashed) in its family, the access
        token's `jti` in the same family, and the client in the provider session."""
        client: Client = request.client
        user: Authenticated | None = request.user
        family_id = None
        resources = ""
        if request.authorization_code is not None:
            family_id = request.authorization_code.family_id
            resources = request.authorization_code.resources
        elif isinstance(request.refresh_token, RefreshToken):
            family_id = request.refresh_token.family_id
            resources = request.refresh_token.resources
        elif "refresh_token" in token:
            family_id = new_secret(16)
        if "refresh_token" in token and family_id and user is not None:
            now = int(time.time())
            self.store.save_refresh_token(token["refresh_token"], RefreshToken(
                token_hash=digest(token["refresh_token"]), family_id=family_id,
                client_id=client.client_id, sub=user.user.subject, scope=token.get("scope", ""),
                sid=user.sid, auth_time=user.auth_time, issued_at=now,
                expires_at=now + self.settings.refresh_token_lifetime, resources=resources,
                dpop_jkt=g.get("bff_as_dpop_jkt") or ""))
        issued = g.get("bff_as_issued_access_token")
        if family_id and issued:
            jti, exp = issued
            self.store.record_access_token(family_id, jti, exp)
            if self.store.family_revoked(family_id):
                self.store.revoke_jti(jti, exp)
        if user is not None and user.sid:
            self.store.add_session_client(user.sid, client.client_id,
                                          self.settings.session_lifetime)


def build_server(settings: AuthServerSettings, store: AuthStore, keys: KeyStore) -> Server:
    server = Server(settings, store, keys)
    server.register_grant(grants.bind(grants.AuthorizationCodeGrant, settings, store),
                          [grants.S256CodeChallenge(), CodeIdToken(settings, keys, store)])
    server.register_grant(grants.bind(grants.RefreshTokenGrant, settings, store),
                          [RefreshIdToken(settings, keys)])
    server.register_grant(grants.bind(grants.ClientCredentialsGrant, settings, store))
    server.register_grant(grants.bind(grants.PasswordGrant, settings, store))
    server.register_grant(bind_exchange(settings, store, keys))
    lookup = {"settings": settings, "store": store, "keys": keys}
    server.register_endpoint(endpoints.bind(endpoints.RevocationEndpoint, **lookup))
    server.register_endpoint(endpoints.bind(endpoints.IntrospectionEndpoint, **lookup))
    server.register_endpoint(endpoints.bind(endpoints.EndSessionEndpoint, keys=keys))
    server.register_extension(Issuer(settings.issuer))
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD,
                                       PrivateKeyJwt(settings, store))
    return server
