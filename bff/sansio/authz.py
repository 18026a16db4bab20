"""Per-route authorization on the session's claims and on how fresh its login is.

A route may require claims (``claims = { roles = ["admin"] }``: the claim, a string or a list,
must contain one of the values; several keys must all hold) and a recent login
(``max_age = 300``: the login's ``auth_time`` at most that many seconds ago). Plain data in,
a decision out: the proxy turns it into 403 ``insufficient_claims`` or 401
``reauthentication_required`` with the URL of a fresh login.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

ClaimRules = tuple[tuple[str, tuple[str, ...]], ...]


def claim_holds(value: Any, accepted: tuple[str, ...]) -> bool:
    """A string claim equals one of ``accepted``; a list claim contains one of them."""
    if isinstance(value, str):
        return value in accepted
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and item in accepted for item in value)
    return False


def unmet_claims(rules: ClaimRules, claims: Mapping[str, Any]) -> list[str]:
    """The names of the rules the session's claims do not meet; empty when all hold."""
    return [name for name, accepted in rules if not claim_holds(claims.get(name), accepted)]


def is_fresh(auth_time: float, max_age: int | None, now: float) -> bool:
    return max_age is None or now - auth_time <= max_age


def reauthentication_url(return_path: str, max_age: int) -> str:
    """A fresh login that comes back here: the provider must ask again (``prompt=login``) and
    is told how recent the authentication must be (OIDC ``max_age``)."""
    query = urlencode({"returnUrl": return_path, "prompt": "login", "max_age": max_age})
    return f"/bff/login?{query}"
