"""When an ``id_token_hint`` may end a provider session without asking the user.

Authlib accepts any JWT this server signed as a hint; a client-credentials access token (and the
demo's service secret is public) would then log anyone out without a prompt, and back-channel
logout would carry that to every client. A hint is honoured only when it is, by its shape and
claims, an ID token of this provider issued to the client named, for the user signed in in this
browser, and not expired for longer than a provider session can live. Anything else gets the
confirmation page. Plain data in, a decision out: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ID_TOKEN_TYPES = (None, "JWT")
ACCESS_TOKEN_CLAIMS = ("scope", "client_id")


def honours_id_token_hint(header: Mapping[str, Any], claims: Mapping[str, Any], *, issuer: str,
                          client_id: str | None, session_sub: str | None, now: float,
                          grace: int) -> bool:
    """``claims`` were verified against this server's keys; is this the ID token it looks like,
    for this client and this browser's user?"""
    if header.get("typ") not in ID_TOKEN_TYPES or any(c in claims for c in ACCESS_TOKEN_CLAIMS):
        return False
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if client_id is None or client_id not in audiences:
        return False
    if claims.get("azp", client_id) != client_id or (len(audiences) > 1 and "azp" not in claims):
        return False
    expires = claims.get("exp")
    return (claims.get("iss") == issuer and session_sub is not None
            and claims.get("sub") == session_sub
            and isinstance(expires, int | float) and now - expires <= grace)
