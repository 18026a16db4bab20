"""Token decisions without I/O: what a session holds, what a token endpoint answered, when an
access token is due for refresh, and what a refresh leaves in the session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jwt


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_in: int
    scope: tuple[str, ...]
    id_claims: dict[str, Any] | None = None
    dpop_jkt: str | None = None
    """The thumbprint of the DPoP key the token is bound to (``token_type: DPoP``)."""


@dataclass(frozen=True)
class Credential:
    """An access token as an upstream receives it: a bearer token, or one bound to the DPoP
    key ``dpop_jkt`` names, which travels with a fresh proof of that key."""

    token: str
    dpop_jkt: str | None = None

    def __repr__(self) -> str:
        return f"Credential(dpop={self.dpop_jkt is not None})"


@dataclass(frozen=True)
class ResourceToken:
    """An access token restricted to one resource (RFC 8707), obtained with the session's
    refresh token for the routes that name that resource."""

    access_token: str
    expires_at: float
    issued_at: float

    def __repr__(self) -> str:
        return f"ResourceToken(expires_at={self.expires_at})"


@dataclass(frozen=True)
class TokenSet:
    """What a session needs to call APIs. The ID token is not kept: it is validated at login,
    its claims are copied into the session, and nothing later needs it (logout uses the
    provider's ``sid`` as ``logout_hint``), so it is one token fewer at rest. ``resources``
    holds the audience-restricted tokens by resource indicator, fetched when first needed."""

    access_token: str
    refresh_token: str | None
    access_expires_at: float
    access_issued_at: float
    scope: tuple[str, ...]
    resources: Mapping[str, ResourceToken] = field(default_factory=dict)
    dpop_jkt: str | None = None
    """Bound to this DPoP key (RFC 7638 thumbprint): every use needs a proof signed with it,
    the refresh too. None: bearer tokens."""

    def __repr__(self) -> str:
        return (f"TokenSet(access_expires_at={self.access_expires_at}, scope={self.scope}, "
                f"resources={sorted(self.resources)})")

    def access_token_for(self, resource: str | None) -> str | None:
        """The token a route gets: the session's own, or the one for its resource if held."""
        if resource is None:
            return self.access_token
        held = self.resources.get(resource)
        return None if held is None else held.access_token


def audience_problem(access_token: str, resource: str) -> str | None:
    """Why a token asked for ``resource`` must not be sent to it: a JWT whose ``aud`` is not
    exactly that resource (a provider that ignores RFC 8707 answers with its default audience,
    which is the very token the route exists to avoid). Opaque tokens cannot be read, so they
    are trusted to the provider. Only the audience is read here; upstreams verify the rest."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if audiences != [resource]:
        return f"its audience is {audience!r}"
    return None


def _is_due(expires_at: float, issued_at: float, now: float, skew: int) -> bool:
    lifetime = max(expires_at - issued_at, 0.0)
    return now >= expires_at - min(float(skew), lifetime / 2)


def is_refresh_due(tokens: TokenSet, now: float, skew: int,
                   resource: str | None = None) -> bool:
    """Due within ``skew`` seconds of expiry; a skew longer than half the token's lifetime is
    capped so that a long skew cannot cause a refresh on every request. A resource token not
    yet held is due."""
    if resource is None:
        return _is_due(tokens.access_expires_at, tokens.access_issued_at, now, skew)
    held = tokens.resources.get(resource)
    return held is None or _is_due(held.expires_at, held.issued_at, now, skew)


def token_set(response: TokenResponse, previous: TokenSet | None, now: float) -> TokenSet:
    """Providers may omit a rotated refresh token: keep the one we had then."""
    return TokenSet(
        access_token=response.access_token,
        refresh_token=response.refresh_token or (previous.refresh_token if previous else None),
        access_expires_at=now + response.expires_in,
        access_issued_at=now,
        scope=response.scope or (previous.scope if previous else ()),
        resources=previous.resources if previous else {},
        dpop_jkt=response.dpop_jkt,
    )


def with_resource_token(response: TokenResponse, previous: TokenSet, resource: str,
                        now: float) -> TokenSet:
    """After a refresh for ``resource``: the new token for that resource and the rotated
    refresh token; the session's own access token and scope are untouched."""
    return replace(
        previous,
        refresh_token=response.refresh_token or previous.refresh_token,
        resources={**previous.resources, resource: ResourceToken(
            response.access_token, now + response.expires_in, now)},
    )
