"""Token decisions without I/O: what a session holds, what a token endpoint answered, when an
access token is due for refresh, and what a refresh leaves in the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_in: int
    scope: tuple[str, ...]
    id_claims: dict[str, Any] | None = None


@dataclass(frozen=True)
class TokenSet:
    """What a session needs to call APIs. The ID token is not kept: it is validated at login,
    its claims are copied into the session, and nothing later needs it (logout uses the
    provider's ``sid`` as ``logout_hint``), so it is one token fewer at rest."""

    access_token: str
    refresh_token: str | None
    access_expires_at: float
    access_issued_at: float
    scope: tuple[str, ...]

    def __repr__(self) -> str:
        return f"TokenSet(access_expires_at={self.access_expires_at}, scope={self.scope})"


def is_refresh_due(tokens: TokenSet, now: float, skew: int) -> bool:
    """Due within ``skew`` seconds of expiry; a skew longer than half the token's lifetime is
    capped so that a long skew cannot cause a refresh on every request."""
    lifetime = max(tokens.access_expires_at - tokens.access_issued_at, 0.0)
    return now >= tokens.access_expires_at - min(float(skew), lifetime / 2)


def token_set(response: TokenResponse, previous: TokenSet | None, now: float) -> TokenSet:
    """Providers may omit a rotated refresh token: keep the one we had then."""
    return TokenSet(
        access_token=response.access_token,
        refresh_token=response.refresh_token or (previous.refresh_token if previous else None),
        access_expires_at=now + response.expires_in,
        access_issued_at=now,
        scope=response.scope or (previous.scope if previous else ()),
    )
