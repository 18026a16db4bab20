"""The objects Authlib's grants talk to: registered clients and the user behind a grant."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list

from bff.authserver.passwords import verify_password
from bff.authserver.settings import OIDC_SCOPES, ClientConfig, User

_VERIFIED_LIMIT = 1024


def is_api_scope(scope: str) -> bool:
    """Scopes that grant access to an API (as opposed to OIDC identity scopes)."""
    return scope not in OIDC_SCOPES


def limit_to_user(scope: str, user: User) -> str:
    """API scopes survive only when the user holds them; identity scopes pass through."""
    return list_to_scope([s for s in scope_to_list(scope) or []
                          if not is_api_scope(s) or s in user.scopes])


@dataclass(frozen=True)
class Authenticated:
    """A user as authenticated at the provider: which login session, and when."""

    user: User
    sid: str = ""
    auth_time: int = 0

    def get_user_id(self) -> str:
        return self.user.subject


class Client(ClientMixin):
    """A configured client. Secrets are scrypt hashes; a verified secret is remembered (as its
    SHA-256) so a busy token endpoint does not pay scrypt on every call."""

    _verified: set[tuple[str, str, str]] = set()
    _verified_lock = threading.Lock()

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.client_id = config.client_id

    @property
    def client_metadata(self) -> dict[str, list[str]]:
        return {"post_logout_redirect_uris": list(self.config.post_logout_redirect_uris)}

    @property
    def audience(self) -> str:
        return self.config.audience or self.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.config.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.config.scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        remembered = (self.client_id, self.config.client_secret_hash,
                      hashlib.sha256(client_secret.encode()).hexdigest())
        if remembered in self._verified:
            return True
        if not verify_password(client_secret, self.config.client_secret_hash):
            return False
        with self._verified_lock:
            if len(self._verified) >= _VERIFIED_LIMIT:
                self._verified.clear()
            self._verified.add(remembered)
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.config.token_endpoint_auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.config.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "password" and not self.config.trusted_first_party:
            return False
        return grant_type in self.config.grant_types
