"""Resource indicators (RFC 8707): which audience a token may be issued for.

A client registers the resources it may ask for (`resources` in its `[[clients]]` entry). At
/authorize it may name several, which the grant then covers (section 2.1); at the token
endpoint it names at most one per token, which becomes the token's only `aud` (section 2.2):
for a code or refresh grant one the grant covers (or, when the authorization asked for none,
one the client is registered for), for client credentials one it is registered for.
Anything else is `invalid_target`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from authlib.oauth2 import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707 section 2: the resource is invalid, unknown, or not allowed here."""

    error = "invalid_target"
    status_code = 400


def asked_resources(datalist: dict[str, list[str]] | None) -> list[str]:
    """Every `resource` parameter of a request, in order (the parameter may repeat)."""
    return list((datalist or {}).get("resource", []))


def granted_at_authorization(asked: Sequence[str], registered: Iterable[str]) -> tuple[str, ...]:
    """The resources an authorization request may cover: all registered for the client."""
    allowed = set(registered)
    unknown = [r for r in asked if r not in allowed]
    if unknown:
        raise InvalidTargetError(f"The client may not ask for {unknown[0]}.")
    return tuple(dict.fromkeys(asked))


def token_audience(asked: Sequence[str], granted: Sequence[str],
                   registered: Iterable[str]) -> str | None:
    """The audience of a token asked for with ``asked``: None (the client's default) when it
    names no resource; otherwise that one resource, if the grant (or, for a grant that named
    none, the client's registration) covers it."""
    if not asked:
        return None
    if len(asked) > 1:
        raise InvalidTargetError("Ask for one resource per token.")
    allowed = set(granted or registered)
    if asked[0] not in allowed:
        raise InvalidTargetError(f"This grant does not cover {asked[0]}.")
    return asked[0]
