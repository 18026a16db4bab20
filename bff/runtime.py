"""The long-lived parts one BFF process shares between requests, and the session lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, request
from werkzeug.wrappers import Request

from bff.sansio.security import sole_value

if TYPE_CHECKING:
    from bff.logins import PendingLogins
    from bff.oidc import OidcClient
    from bff.proxy import Proxy
    from bff.sansio.proxy_rules import RouteTable
    from bff.sealing import Sealer
    from bff.sessions import Session, SessionStore
    from bff.settings import Settings
    from bff.tokens import TokenManager


@dataclass(frozen=True)
class Runtime:
    """The long-lived parts of one BFF process, built by ``create_app`` and shared by every
    request: settings, the session store, the OIDC client, the token manager, the route table,
    the upstream connection pools, pending logins and the sealer."""

    settings: Settings
    store: SessionStore
    oidc: OidcClient
    tokens: TokenManager
    routes: RouteTable
    proxy: Proxy
    logins: PendingLogins
    sealer: Sealer


def runtime() -> Runtime:
    return current_app.extensions["bff"]


def current_session(*, slide: bool = True) -> Session | None:
    """The session named by the request's cookie, if it still exists (one Redis round trip)."""
    return session_for(runtime(), request, slide=slide)


def session_for(rt: Runtime, req: Request, *, slide: bool = True) -> Session | None:
    """The session named by ``req``'s cookie; a cookie sent twice names none."""
    session_id = sole_value(req.cookies.getlist(rt.settings.cookie_name))
    if not session_id:
        return None
    return rt.store.load(session_id, slide=slide)
