"""The revocation list shared by the reference provider and offline validators, as plain data.

The provider appends an entry for each access token it revokes (its `jti`) and for each user it
logs out everywhere (`sub` with a not-before time); validators apply the entries to a map in
memory and judge each token with dictionary lookups. Each entry carries its own expiry: the
revoked token's `exp`, or the longest access-token lifetime after a not-before, after which no
token it could name is still valid, so the map stays bounded by what is live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STREAM_KEY = "bff:as:revocations"
KINDS = ("jti", "sub")


@dataclass(frozen=True)
class Entry:
    kind: str
    value: str
    expires_at: float
    not_before: float = 0.0

    def fields(self) -> dict[str, str]:
        """As a Redis stream entry."""
        return {"k": self.kind, "v": self.value, "exp": str(int(self.expires_at)),
                "nbf": str(int(self.not_before))}


def parse_entry(fields: Mapping[bytes | str, bytes | str]) -> Entry | None:
    """An entry as read back; a malformed one is skipped, not trusted."""
    def text(name: str) -> str:
        raw = fields.get(name) if name in fields else fields.get(name.encode())  # type: ignore[call-overload]
        return raw.decode() if isinstance(raw, bytes) else str(raw or "")

    try:
        kind, value = text("k"), text("v")
        entry = Entry(kind, value, float(text("exp")), float(text("nbf") or 0))
    except ValueError:
        return None
    return entry if kind in KINDS and value else None


@dataclass
class RevokedSet:
    """What is revoked now: ``jti`` -> expiry, ``sub`` -> (not-before, expiry)."""

    jtis: dict[str, float] = field(default_factory=dict)
    subs: dict[str, tuple[float, float]] = field(default_factory=dict)

    def apply(self, entry: Entry) -> None:
        if entry.kind == "jti":
            self.jtis[entry.value] = max(entry.expires_at, self.jtis.get(entry.value, 0.0))
        else:
            before, expiry = self.subs.get(entry.value, (0.0, 0.0))
            self.subs[entry.value] = (max(before, entry.not_before),
                                      max(expiry, entry.expires_at))

    def forget_expired(self, now: float) -> None:
        self.jtis = {k: exp for k, exp in self.jtis.items() if exp > now}
        self.subs = {k: v for k, v in self.subs.items() if v[1] > now}

    def reason(self, claims: Mapping[str, Any]) -> str | None:
        """Why a validly signed token must be refused anyway, or None."""
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in self.jtis:
            return "the access token has been revoked"
        sub = claims.get("sub")
        if isinstance(sub, str) and sub in self.subs:
            issued = claims.get("iat")
            if not isinstance(issued, int | float) or issued <= self.subs[sub][0]:
                return "the user's access was revoked after this token was issued"
        return None
