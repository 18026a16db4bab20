"""The signed-in user's own sessions: where am I signed in, and sign that one (or all) out.

Same anti-forgery rules as ``/bff/user``. A session is named by an opaque public id (never the
cookie, never the Redis key); listing and ending are bounded by the user's session count,
through the ``sub`` index, never a scan; index entries of sessions that expired by themselves
are dropped when met. Ending one revokes its refresh token at the provider, as logout does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify

from bff.endpoints import end_session, require_csrf
from bff.errors import BadRequest, LoginRequired, NotFound
from bff.runtime import current_session, runtime
from bff.sansio.keyspace import public_session_id
from bff.sessions import Session, clear_session_cookie

blueprint = Blueprint("user_sessions", __name__, url_prefix="/bff/sessions")
PUBLIC_ID = re.compile(r"[0-9a-f]{24}")


def _signed_in() -> Session:
    require_csrf()
    session = current_session(slide=False)
    if session is None:
        raise LoginRequired("You are not logged in.")
    return session


def sessions_of(sub: str) -> list[Session]:
    """A user's live sessions, newest first, through the ``sub`` index (no keyspace scan);
    entries of sessions that expired by themselves are dropped on the way."""
    rt = runtime()
    sessions = []
    for handle in rt.store.handles_for(sub=sub):
        session = rt.store.load_handle(handle)
        if session is None:
            rt.store.forget_stale(sub, handle)
        elif session.sub == sub:
            sessions.append(session)
    return sorted(sessions, key=lambda s: s.created_at, reverse=True)


def with_public_id(sessions: Iterable[Session], public_id: str) -> Session | None:
    """The one of ``sessions`` (a user's) with this public id; None for anyone else's."""
    return next((s for s in sessions if public_session_id(s.handle) == public_id), None)


def end_sessions(sessions: Iterable[Session], reason: str) -> dict[str, int]:
    """End each (as logout does) and count: how many this call ended, and how many refresh
    tokens the provider could not revoke. The answer of every "sign out" on this page, the
    admin API and ``bff sessions revoke``."""
    outcomes = [end_session(session, reason) for session in sessions]
    return {"ended": sum(o is not None for o in outcomes),
            "not_revoked": sum(o is False for o in outcomes)}


def describe(session: Session, current: Session | None = None) -> dict[str, Any]:
    idle = runtime().settings.session_idle_timeout
    return {
        "id": public_session_id(session.handle),
        "device": session.device or "A browser",
        "created_at": int(session.created_at),
        "last_seen_at": int(session.idle_expires_at - idle),
        "expires_at": int(session.session_expires_at),
        "current": current is not None and session.handle == current.handle,
    }


@blueprint.get("")
def list_sessions() -> Response:
    user = _signed_in()
    return jsonify({"sessions": [describe(s, user) for s in sessions_of(user.sub)]})


@blueprint.delete("/<public_id>")
def end_one(public_id: str) -> Response:
    user = _signed_in()
    if not PUBLIC_ID.fullmatch(public_id):
        raise BadRequest("A session id is 24 hexadecimal characters.")
    target = with_public_id(sessions_of(user.sub), public_id)
    if target is None:
        raise NotFound("You have no session with this id.")
    response = jsonify(end_sessions([target], "session ended by its user"))
    if target.handle == user.handle:
        clear_session_cookie(response, runtime().settings)
    return response


@blueprint.post("/logout-all")
def end_all() -> Response:
    user = _signed_in()
    response = jsonify(end_sessions(sessions_of(user.sub), "signed out everywhere"))
    clear_session_cookie(response, runtime().settings)
    return response
