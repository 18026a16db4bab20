"""HTTP endpoints of the authorization server: Authlib does the protocol, these do the browser.

The browser's login at the provider is a cookie (``__Host-bff_as_session`` over https, so no
sibling host can plant or shadow it; ``bff_as_session`` on plain-http localhost; HttpOnly,
SameSite=Lax, Path=/) naming a Redis record; the name differs from Flask's ``session`` because on
localhost every port shares cookies with the BFF. A browser that sends the cookie twice has no
session. The login form is CSRF-protected with a token kept in that record, and a successful
login always issues a new cookie value (the pre-login value and its CSRF token die with it).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint, Response, g, jsonify, make_response, redirect, request

from bff.authserver.backchannel import BackchannelLogout
from bff.authserver.discovery import metadata
from bff.authserver.dpop import DpopBinding
from bff.authserver.keys import KeyStore
from bff.authserver.login import check_credentials
from bff.authserver.logout_hint import honours_id_token_hint
from bff.authserver.models import Authenticated
from bff.authserver.pages import error_page, logged_out_page, login_page, logout_confirm_page
from bff.authserver.par import push
from bff.authserver.server import Server
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore, ProviderSession
from bff.authserver.tokens import decode_access_token, user_claims
from bff.sansio.security import sole_value

ANONYMOUS_SESSION_TTL = 900

ERROR_TITLES = {
    "invalid_client": "Unknown application",
    "invalid_request": "Invalid sign-in request",
    "unauthorized_client": "Application not allowed",
}


@dataclass(frozen=True)
class Runtime:
    settings: AuthServerSettings
    store: AuthStore
    keys: KeyStore
    server: Server
    backchannel: BackchannelLogout


def blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("authserver", __name__)
    settings, store, keys, server = rt.settings, rt.store, rt.keys, rt.server

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @bp.get("/.well-known/openid-configuration")
    @bp.get("/.well-known/oauth-authorization-server")
    def discovery() -> Response:
        response = jsonify(metadata(settings, keys))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @bp.get("/jwks")
    def jwks() -> Response:
        response = jsonify(keys.jwks())
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    @bp.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        session = store.session(sole_value(request.cookies.getlist(settings.session_cookie_name)))
        user = _authenticated(settings, session)
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return _authorization_error(settings, error)
        if request.method == "POST":
            return _login_submit(rt, grant, session)
        # The request's own parameters: the pushed ones for a pushed request (RFC 9126), never
        # whatever else the URL carries beside its request_uri.
        asked = grant.request.payload.data
        prompts = (asked.get("prompt") or "").split()
        state = asked.get("state")
        if "none" in prompts:
            if len(prompts) > 1:
                return _authorization_error(settings, InvalidRequestError(
                    "'prompt=none' cannot be combined with other values.",
                    redirect_uri=grant.redirect_uri, state=state))
            if user is None:
                return _authorization_error(settings, LoginRequiredError(
                    redirect_uri=grant.redirect_uri, state=state))
            return _issue_code(server, grant, user)
        if user is None or "login" in prompts or _too_old(user, asked.get("max_age")):
            return _login_form(rt, grant, session)
        return _issue_code(server, grant, user)

    dpop = DpopBinding(settings, store)

    @bp.post("/token")
    def token() -> Response:
        refused = dpop.check()
        if refused is not None:
            return refused
        return dpop.finish(server.create_token_response())

    @bp.post("/par")
    def pushed_authorization_request() -> Response:
        return push(server, store)

    @bp.post("/revoke")
    def revoke() -> Response:
        return server.create_endpoint_response("revocation")

    @bp.post("/introspect")
    def introspect() -> Response:
        return server.create_endpoint_response("introspection")

    @bp.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return server.handle_error_response(None, InvalidTokenError(
                "A bearer access token is required."))
        claims = decode_access_token(token.strip(), keys, settings.issuer)
        if claims is None or store.jti_revoked(str(claims["jti"])):
            return server.handle_error_response(None, InvalidTokenError())
        scopes = str(claims.get("scope", "")).split()
        if "openid" not in scopes:
            return server.handle_error_response(None, InsufficientScopeError())
        user = settings.user_by_subject(str(claims["sub"]))
        if user is None:
            return server.handle_error_response(None, InvalidTokenError())
        response = jsonify(user_claims(Authenticated(user), " ".join(scopes)))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        session = store.session(sole_value(request.cookies.getlist(settings.session_cookie_name)))
        # A client naming this browser's provider session (logout_hint = its sid) logs out
        # without a prompt, and without putting an ID token into a front-channel URL.
        g.logout_hint_matches = bool(
            session is not None and session.logged_in and session.sid
            and hmac.compare_digest(request.values.get("logout_hint", ""), session.sid))
        try:
            end_request = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return _error_response(error)
        logged_in = session is not None and session.logged_in
        hinted = (g.logout_hint_matches and end_request.client is not None) or \
            _honoured_hint(settings, end_request, session)
        if logged_in and not hinted:
            confirmed = request.method == "POST" and session is not None and hmac.compare_digest(
                request.form.get("csrf_token", ""), session.csrf_token)
            if not confirmed:
                client = end_request.client
                return _html(logout_confirm_page(
                    action=request.full_path, csrf_token=session.csrf_token,
                    client_id=client.client_id if client else ""))
        _end_browser_session(rt, session)
        response = server.create_endpoint_response("end_session", end_request)
        if response is None:
            response = _html(logged_out_page())
        response.delete_cookie(settings.session_cookie_name, path="/",
                               secure=settings.secure_cookies, httponly=True, samesite="Lax")
        return response

    return bp


def _authenticated(settings: AuthServerSettings, session: ProviderSession | None
                   ) -> Authenticated | None:
    if session is None or not session.logged_in:
        return None
    user = settings.user_by_subject(session.sub)
    if user is None:
        return None
    return Authenticated(user=user, sid=session.sid, auth_time=session.auth_time)


def _too_old(user: Authenticated, max_age: str | None) -> bool:
    if not max_age or not max_age.isdigit():
        return False
    return time.time() - user.auth_time > int(max_age)


def _issue_code(server: Server, grant: Any, user: Authenticated) -> Response:
    response = server.create_authorization_response(grant=grant, grant_user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


def _authorization_error(settings: AuthServerSettings, error: OAuth2Error) -> Response:
    """Redirect errors only to a redirect URI Authlib validated against the client; otherwise
    show a page (RFC 6749 section 4.1.2.1)."""
    if error.redirect_uri:
        _, _, headers = error()
        location = add_params_to_uri(dict(headers)["Location"], [("iss", settings.issuer)])
        response = redirect(location, 302)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _error_response(error)


def _error_response(error: OAuth2Error) -> Response:
    title = ERROR_TITLES.get(error.error, "Request refused")
    description = error.get_error_description() or "The request is not valid."
    return _html(error_page(title=title, error=error.error, description=description), 400)


def _login_form(rt: Runtime, grant: Any, session: ProviderSession | None, *, error: str = "",
                username: str = "", status: int = 200) -> Response:
    cookie_value = None
    if session is None:
        cookie_value, session = rt.store.new_session(ANONYMOUS_SESSION_TTL)
    response = _html(login_page(client_id=grant.client.client_id, action=request.full_path,
                                csrf_token=session.csrf_token, username=username, error=error),
                     status)
    if cookie_value:
        _set_cookie(rt.settings, response, cookie_value, ANONYMOUS_SESSION_TTL)
    return response


def _login_submit(rt: Runtime, grant: Any, session: ProviderSession | None) -> Response:
    settings, store = rt.settings, rt.store
    form = request.form
    if session is None or not hmac.compare_digest(form.get("csrf_token", ""),
                                                  session.csrf_token):
        return _login_form(rt, grant, session, status=400,
                           error="Your sign-in form expired. Please try again.")
    username = form.get("username", "").strip()
    outcome = check_credentials(settings, store, username, form.get("password", ""),
                                request.remote_addr or "")
    if outcome.throttled:
        return _login_form(rt, grant, session, username=username, status=429,
                           error="Too many failed sign-in attempts. Please wait a few minutes "
                                 "and try again.")
    if outcome.user is None:
        return _login_form(rt, grant, session, username=username, status=401,
                           error="Invalid username or password.")
    sid = ""
    if session.logged_in and session.sub == outcome.user.subject:
        sid = session.sid
    elif session.logged_in:
        _end_provider_session(rt, session.sid, session.session_hash, session.sub)
    store.delete_session(session.session_hash)
    cookie_value, new_session = store.new_session(
        settings.session_lifetime, sub=outcome.user.subject, auth_time=int(time.time()), sid=sid)
    response = _issue_code(rt.server, grant, Authenticated(
        user=outcome.user, sid=new_session.sid, auth_time=new_session.auth_time))
    _set_cookie(settings, response, cookie_value, settings.session_lifetime)
    return response


def _honoured_hint(settings: AuthServerSettings, end_request: Any,
                   session: ProviderSession | None) -> bool:
    hint = request.values.get("id_token_hint")
    if not hint or end_request.id_token_claims is None:
        return False
    return honours_id_token_hint(
        jwt.get_unverified_header(hint), end_request.id_token_claims, issuer=settings.issuer,
        client_id=end_request.client.client_id if end_request.client else None,
        session_sub=session.sub if session is not None and session.logged_in else None,
        now=time.time(), grace=settings.session_lifetime)


def _end_browser_session(rt: Runtime, session: ProviderSession | None) -> None:
    """End this browser's provider session, telling its clients by back-channel logout. A hint
    never ends a session of another browser: it only spares this one the confirmation."""
    if session is not None and session.logged_in:
        _end_provider_session(rt, session.sid, session.session_hash, session.sub)
    elif session is not None:
        rt.store.delete_session(session.session_hash)


def _end_provider_session(rt: Runtime, sid: str, session_hash: str | None, sub: str) -> None:
    clients, families = rt.store.end_session(sid, session_hash)
    for family_id in families:
        rt.store.revoke_family(family_id, rt.settings.refresh_token_lifetime)
    rt.backchannel.notify(clients, sub, sid)


def _set_cookie(settings: AuthServerSettings, response: Response, value: str, ttl: int) -> None:
    response.set_cookie(settings.session_cookie_name, value, max_age=ttl, path="/", httponly=True,
                        samesite="Lax", secure=settings.secure_cookies)


def _html(body: str, status: int = 200) -> Response:
    response = make_response(body, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
