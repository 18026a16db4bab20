"""Relying-party decisions as plain functions: no I/O, no third-party imports.

Which client authentication to use, how to encode ``client_secret_basic``, where RFC 8414
metadata lives, and whether a login needs the userinfo endpoint. ``bff.oidc`` does the HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

SUPPORTED_CLIENT_AUTH = ("client_secret_basic", "client_secret_post", "private_key_jwt")
# OIDC Core section 5.4: the claims each scope asks for.
SCOPE_CLAIMS = {
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname",
                "preferred_username", "profile", "picture", "website", "gender", "birthdate",
                "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}


class NoUsableClientAuth(ValueError):
    """The provider lists only client authentication methods the BFF does not speak."""


def basic_authorization(client_id: str, client_secret: str) -> str:
    """``Authorization: Basic`` per RFC 6749 section 2.3.1: the id and the secret are each
    form-urlencoded (Appendix B) before they are joined and base64-encoded, so a secret with
    ``+ / % = :`` or a space reaches a conforming provider intact."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def choose_client_auth(advertised: Iterable[str] | None, forced: str | None,
                       has_key: bool = False, has_secret: bool = True) -> str:
    """The method set by the operator, else the first the provider lists that the BFF is
    configured for (a key for ``private_key_jwt``, a secret for the others); RFC 8414 section
    2: a provider that lists none supports ``client_secret_basic``."""
    if forced:
        return forced
    usable = [m for m in SUPPORTED_CLIENT_AUTH
              if (has_key if m == "private_key_jwt" else has_secret)]
    methods = list(advertised or ["client_secret_basic"])
    for method in methods:
        if method in usable:
            return method
    raise NoUsableClientAuth(
        f"the provider accepts only {', '.join(methods)}; the BFF is configured for "
        f"{' and '.join(usable) or 'nothing'} (set BFF_CLIENT_AUTH to force one, and "
        "BFF_CLIENT_KEY for private_key_jwt)")


INVALID_TARGET_HINT = ("It refused a resource indicator the API routes name (RFC 8707): each "
                       "route's `resource` must be registered for this client at the provider")


class DpopUnavailable(ValueError):
    """DPoP is required but the provider does not offer it for the BFF's key algorithm."""


def dpop_to_use(mode: str, metadata: Mapping[str, Any], alg: str | None) -> bool:
    """Whether token requests carry DPoP proofs (RFC 9449): never when ``off``; with ``auto``
    when the provider lists the key's algorithm in ``dpop_signing_alg_values_supported``
    (section 5.1), else bearer tokens; ``required`` refuses a provider that does not."""
    if mode == "off" or alg is None:
        return False
    algorithms = metadata.get("dpop_signing_alg_values_supported")
    offered = isinstance(algorithms, list) and alg in algorithms
    if not offered and mode == "required":
        raise DpopUnavailable(f"DPoP is required but the provider does not accept {alg} DPoP "
                              f"proofs (dpop_signing_alg_values_supported: {algorithms})")
    return offered


class ParUnavailable(ValueError):
    """Pushed authorization requests are required (by the operator) but not offered, or
    required (by the provider) but turned off."""


def par_endpoint_to_use(mode: str, metadata: Mapping[str, Any]) -> str | None:
    """Where to push authorization requests (RFC 9126), or None to send them in the URL:
    ``auto`` pushes whenever the provider offers it, ``required`` refuses a provider that does
    not, ``off`` never pushes, unless the provider requires it (section 5), which wins."""
    endpoint = metadata.get("pushed_authorization_request_endpoint")
    endpoint = endpoint if isinstance(endpoint, str) and endpoint else None
    demanded = metadata.get("require_pushed_authorization_requests") is True
    if endpoint is None and (mode == "required" or demanded):
        raise ParUnavailable("pushed authorization requests are required but the provider "
                             "names no pushed_authorization_request_endpoint")
    if mode == "off" and not demanded:
        return None
    return endpoint


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's
    path; many providers also serve it after the path, which is tried second."""
    parts = urlsplit(issuer.rstrip("/"))
    inserted = urlunsplit((parts.scheme, parts.netloc,
                           f"/.well-known/oauth-authorization-server{parts.path}", "", ""))
    appended = f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server"
    return [inserted] if inserted == appended else [inserted, appended]


def needs_userinfo(mode: str, scopes: Iterable[str], id_claims: Mapping[str, Any],
                   wanted: Iterable[str]) -> bool:
    """``auto``: ask userinfo when, for some requested scope, none of the claims it promises
    (among those the BFF keeps) is in the ID token, as OIDC Core 5.4 lets a provider do."""
    if mode != "auto":
        return mode == "always"
    kept = set(wanted)
    for scope in scopes:
        promised = [claim for claim in SCOPE_CLAIMS.get(scope, ()) if claim in kept]
        if promised and not any(claim in id_claims for claim in promised):
            return True
    return False


def id_token_problem(claims: Mapping[str, Any], client_id: str, nonce: str | None
                     ) -> str | None:
    """What OIDC Core 3.1.3.7 still asks of an ID token whose signature, ``iss``, ``aud`` and
    times PyJWT checked: several audiences need us as ``azp``, ``azp`` must be us, and the
    nonce must be this login's (none is asked of a refreshed one, section 12.2)."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        return "The ID token names other audiences without us as azp."
    if "azp" in claims and claims["azp"] != client_id:
        return "The ID token was issued to another client (azp)."
    if nonce is not None and claims.get("nonce") != nonce:
        return "The ID token's nonce does not match this login."
    return None


def logout_token_problem(claims: Mapping[str, Any], now: float, max_age: float,
                         event: str) -> str | None:
    """OIDC Back-Channel Logout 1.0 section 2.6, beyond the signature and standard claims."""
    events = claims.get("events")
    if not isinstance(events, dict) or event not in events:
        return "The logout token carries no back-channel logout event."
    if "nonce" in claims:
        return "A logout token must not carry a nonce."
    if not claims.get("sid") and not claims.get("sub"):
        return "The logout token names neither a sid nor a sub."
    if abs(now - float(claims["iat"])) > max_age:
        return "The logout token is too old."
    return None


def authorization_response_problem(issuer_param: str | None, issuer: str,
                                   issuer_promised: bool) -> str | None:
    """RFC 9207: an ``iss`` in the authorization response must be our provider's (mix-up), and
    a provider that promises to send it must have sent it."""
    if issuer_param is not None and issuer_param != issuer:
        return "The login response comes from another issuer (mix-up refused)."
    if issuer_param is None and issuer_promised:
        return "The login response lacks the issuer its provider promises to send."
    return None


def session_claims(id_claims: Mapping[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
    """What a session keeps of the login's claims: the ones ``/bff/user`` may show, and the
    authentication time routes with ``max_age`` judge (kept, never shown)."""
    shown = set(wanted)
    kept = {name: value for name, value in id_claims.items() if name in shown}
    if isinstance(id_claims.get("auth_time"), int | float):
        kept["auth_time"] = id_claims["auth_time"]
    return kept
