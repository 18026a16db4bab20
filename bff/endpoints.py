"""The /bff/* management endpoints: login, callback, user, logout, back-channel logout."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request

from bff.errors import BadRequest, CsrfRejected, LoginFailed, LoginRequired
from bff.logins import PendingLogin, binding_digest, minted_binding, new_binding
from bff.runtime import current_session, runtime
from bff.sansio.devices import describe_device
from bff.sansio.keyspace import logout_token_key
from bff.sansio.oidc_rules import (
    INVALID_TARGET_HINT,
    authorization_response_problem,
    session_claims,
)
from bff.sansio.refresh import token_set
from bff.sansio.security import csrf_problem, is_cross_site_navigation, is_safe_return_url
from bff.sessions import Session, clear_session_cookie, set_session_cookie
from bff.store import store_errors

log = logging.getLogger(__name__)
blueprint = Blueprint("bff", __name__, url_prefix="/bff")

PROMPTS = ("none", "login")
SILENT_LOGIN_ERRORS = ("login_required", "interaction_required", "consent_required",
                       "account_selection_required")
PROVIDER_TEXT_LIMIT = 200


def logout_code(session: Session) -> str:
    """A per-session value for the GET logout link: another site cannot know it."""
    return hashlib.sha256(f"{session.handle}:logout".encode()).hexdigest()[:32]


def require_csrf() -> None:
    problem = csrf_problem(request.headers, runtime().settings.origin)
    if problem:
        raise CsrfRejected(f"Refused: {problem}.")


@blueprint.get("/login")
def login() -> Response:
    rt = runtime()
    return_url = request.args.get("returnUrl", "/")
    if not is_safe_return_url(return_url):
        raise BadRequest("returnUrl must be a path on this site, such as /orders.")
    prompt = request.args.get("prompt")
    if prompt is not None and prompt not in PROMPTS:
        raise BadRequest(f"prompt must be one of {', '.join(PROMPTS)}.")
    max_age = request.args.get("max_age")
    if max_age is not None and not (max_age.isascii() and max_age.isdigit()
                                    and 0 < len(max_age) <= 9):
        raise BadRequest("max_age must be a whole number of seconds.")
    start = rt.oidc.start_login(prompt, int(max_age) if max_age is not None else None)
    # One binding per browser, reused by every login it starts, so two tabs can log in at once;
    # reused only when the BFF minted it, so a planted value is never adopted.
    cookie = rt.settings.binding_cookie_name
    binding = minted_binding(rt.sealer, request.cookies.getlist(cookie)) or \
        new_binding(rt.sealer)
    rt.logins.save(PendingLogin(
        state=start.state, nonce=start.nonce, code_verifier=start.code_verifier,
        return_url=return_url, binding_digest=binding_digest(binding),
    ))
    response = redirect(start.url, code=302)
    response.set_cookie(
        cookie, binding, max_age=rt.settings.login_timeout, path="/",
        secure=rt.settings.is_https, httponly=True, samesite="Lax",
    )
    return response


@blueprint.get("/callback")
def callback() -> Response:
    rt = runtime()
    state = request.args.get("state")
    if not state:
        raise LoginFailed("The login response carries no state; please start again.")
    binding = minted_binding(rt.sealer, request.cookies.getlist(rt.settings.binding_cookie_name))
    pending = rt.logins.take(state, binding)
    if pending is None:
        raise LoginFailed(
            "This login was not started in this browser, was already used, or has expired. "
            "Please start again."
        )
    meta = rt.oidc.metadata()
    problem = authorization_response_problem(request.args.get("iss"), meta.issuer,
                                             meta.iss_parameter_supported)
    if problem:
        raise LoginFailed(problem)
    error = request.args.get("error")
    if error:
        if error in SILENT_LOGIN_ERRORS:
            return redirect(pending.return_url, code=302)
        raise LoginFailed(_provider_error(error, request.args.get("error_description")))
    code = request.args.get("code")
    if not code:
        raise LoginFailed("The login response carries no authorization code.")
    tokens = rt.oidc.exchange_code(code, pending.code_verifier)
    if not tokens.id_token:
        raise LoginFailed("The identity provider returned no ID token.")
    claims = rt.oidc.userinfo_claims(
        tokens.access_token, rt.oidc.validate_id_token(tokens.id_token, pending.nonce))
    previous = request.cookies.get(rt.settings.cookie_name)
    if previous:
        stale = rt.store.load(previous, slide=False)
        if stale is not None:
            rt.store.delete(stale.handle)
    kept = session_claims(claims, rt.settings.user_claims)
    session_id, session = rt.store.create(
        token_set(tokens, None, time.time()), sub=str(claims["sub"]), sid=claims.get("sid"),
        claims=kept, device=describe_device(request.headers.get("User-Agent", "")),
    )
    log.info("login sub=%s session=%s", session.sub, session.handle[:12])
    response = redirect(pending.return_url, code=302)
    set_session_cookie(response, rt.settings, session_id)
    return response


def _provider_error(error: str, description: str | None) -> str:
    """The provider's error for a person to read: printable text only, bounded in length."""
    def printable(text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable())[:PROVIDER_TEXT_LIMIT]

    text = f"The identity provider did not log you in: {printable(error)}"
    if description:
        text += f" ({printable(description)})"
    if error == "invalid_target":
        text += f". {INVALID_TARGET_HINT}"
    return text + "."


@blueprint.get("/user")
def user() -> Response:
    require_csrf()
    slide = request.args.get("slide", "true").lower() != "false"
    session = current_session(slide=slide)
    if session is None:
        raise LoginRequired("You are not logged in.")
    allowed = runtime().settings.user_claims
    body: dict[str, Any] = {k: v for k, v in session.claims.items() if k in allowed}
    body.update(
        sub=session.sub,
        scope=" ".join(session.tokens.scope),
        session_expires_at=int(session.session_expires_at),
        logout_url=f"/bff/logout?sid={logout_code(session)}",
    )
    return jsonify(body)


@blueprint.post("/logout")
def logout_post() -> Response:
    require_csrf()
    response = jsonify({"redirect": _end_session(current_session(slide=False))})
    clear_session_cookie(response, runtime().settings)
    return response


@blueprint.get("/logout")
def logout_get() -> Response:
    rt = runtime()
    session = current_session(slide=False)
    if session is not None:
        presented = request.args.get("sid", "")
        if is_cross_site_navigation(request.headers, rt.settings.origin) or \
                not hmac.compare_digest(presented, logout_code(session)):
            raise CsrfRejected("This logout link is not valid for your session.")
    response = redirect(_end_session(session), code=302)
    clear_session_cookie(response, rt.settings)
    return response


def _end_session(session: Session | None) -> str:
    """Delete the session, revoke its refresh token, and say where the browser goes next."""
    rt = runtime()
    landing = f"{rt.settings.base_url}{rt.settings.post_logout_redirect_path}"
    if session is None:
        return rt.settings.post_logout_redirect_path
    end_session(session, "logout")
    return rt.oidc.end_session_url(landing, session.sid) or \
        rt.settings.post_logout_redirect_path


def end_session(session: Session, reason: str) -> bool | None:
    """Delete a session and revoke its refresh token at the provider: True when done, False
    when the provider could not revoke (the session is gone all the same), None when another
    request had already ended it. The one way every kind of logout ends a session."""
    rt = runtime()
    if rt.store.delete(session.handle) is None:
        return None
    revoked = True
    if session.tokens.refresh_token:
        revoked = rt.oidc.revoke(session.tokens.refresh_token)
    log.info("%s sub=%s session=%s", reason, session.sub, session.handle[:12])
    return revoked


@blueprint.post("/backchannel-logout")
def backchannel_logout() -> Response:
    rt = runtime()
    logout_token = request.form.get("logout_token")
    if not logout_token:
        raise BadRequest("logout_token is required.")
    try:
        claims = rt.oidc.validate_logout_token(logout_token)
    except LoginFailed as exc:
        raise BadRequest(exc.description) from exc
    replay_key = logout_token_key(str(claims["jti"]))
    with store_errors():
        first_time = rt.store.redis.set(replay_key, b"1", nx=True, ex=3600)
    if not first_time:
        raise BadRequest("This logout token was already used.")
    sub, sid = claims.get("sub"), claims.get("sid")
    handles = rt.store.handles_for(sid=sid) if sid else rt.store.handles_for(sub=sub)
    ended = 0
    for handle in handles:
        session = rt.store.load_handle(handle)
        if session is None or (sub and session.sub != sub):
            continue
        if end_session(session, "backchannel logout") is not None:
            ended += 1
    log.info("backchannel logout ended %d session(s)", ended)
    return Response(status=200, headers={"Cache-Control": "no-store"})
