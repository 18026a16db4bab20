"""OIDC Discovery / RFC 8414 metadata: exactly what this server supports, nothing more."""

from __future__ import annotations

from typing import Any

from bff.authserver.client_assertion import SIGNING_ALGORITHMS
from bff.authserver.dpop import discovery_metadata as dpop_metadata
from bff.authserver.grants import CLIENT_AUTH_METHODS
from bff.authserver.keys import KeyStore
from bff.authserver.settings import AuthServerSettings

CLAIMS_SUPPORTED = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash",
                    "name", "preferred_username", "email", "roles"]


def metadata(settings: AuthServerSettings, keys: KeyStore) -> dict[str, Any]:
    issuer = settings.issuer
    grant_types: dict[str, None] = {}
    for client in settings.clients:
        grant_types.update(dict.fromkeys(client.grant_types))
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "end_session_endpoint": f"{issuer}/logout",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(grant_types) or ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": keys.algorithms(),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "scopes_supported": list(settings.scopes_supported),
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        # RFC 8707 defines no metadata; some providers use this name, and `bff check-config`
        # reads it.
        "resource_indicators_supported": True,
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": settings.require_pushed_authorization_requests,
        **dpop_metadata(),
    }
