"""The operators' HTTP API: a user's sessions, listed and ended. Off unless configured.

Enabled by ``BFF_ADMIN_TOKEN_SHA256`` (the SHA-256, hex, of a random bearer token that
``bff generate-admin-token`` prints) and served under ``BFF_ADMIN_PATH`` (``/bff/admin`` by
default) on the BFF's own port: nothing new to deploy, and the edge can keep the path off the
public internet. Why a bearer token rather than the provider's client credentials: the API must
work while the provider is down (that is when a stolen laptop gets reported too), and a token
hash in settings is one secret an operator can rotate without the provider's help. It is not a
browser credential: cookies are ignored here, so cross-site requests cannot use it. A missing
or wrong token gets 401 with no detail and is counted; every action is an audit line naming the
token it came with (by the first characters of its hash), never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from flask import Blueprint, Response, jsonify, request

from bff import metrics
from bff.errors import BffError, NotFound
from bff.settings import Settings
from bff.user_sessions import describe, end_sessions, sessions_of, with_public_id

audit = logging.getLogger("bff.audit")


class AdminUnauthorized(BffError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"


def new_admin_token() -> tuple[str, str]:
    """A bearer token and the SHA-256 to configure."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def admin_blueprint(settings: Settings) -> Blueprint | None:
    if not settings.admin_token_sha256:
        return None
    expected = settings.admin_token_sha256.lower()
    actor = f"admin-token:{expected[:8]}"
    blueprint = Blueprint("admin", __name__, url_prefix=settings.admin_path)

    @blueprint.before_request
    def authenticate() -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        presented = hashlib.sha256(token.strip().encode()).hexdigest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented, expected):
            metrics.ADMIN_DENIED.inc()
            raise AdminUnauthorized("")

    @blueprint.get("/users/<sub>/sessions")
    def list_sessions(sub: str) -> Response:
        sessions = sessions_of(sub)
        audit.info("admin action=list sub=%s sessions=%d actor=%s", sub, len(sessions), actor)
        return _no_store(jsonify({"sessions": [describe(s) for s in sessions]}))

    @blueprint.delete("/users/<sub>/sessions")
    def end_all(sub: str) -> Response:
        counts = end_sessions(sessions_of(sub), "session revoked by an operator")
        audit.info("admin action=revoke sub=%s ended=%d not_revoked=%d actor=%s", sub,
                   counts["ended"], counts["not_revoked"], actor)
        return _no_store(jsonify(counts))

    @blueprint.delete("/users/<sub>/sessions/<public_id>")
    def end_one(sub: str, public_id: str) -> Response:
        target = with_public_id(sessions_of(sub), public_id)
        if target is None:
            raise NotFound("No such session.")
        counts = end_sessions([target], "session revoked by an operator")
        audit.info("admin action=revoke sub=%s session=%s actor=%s", sub, public_id, actor)
        return _no_store(jsonify(counts))

    return blueprint


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
