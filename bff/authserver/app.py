"""`create_app(settings)`: wires store, keys, Authlib server and views into a Flask app."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, make_response, request
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from werkzeug.exceptions import HTTPException

from bff.authserver.backchannel import BackchannelLogout
from bff.authserver.keys import KeyStore
from bff.authserver.pages import error_page
from bff.authserver.server import build_server
from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore
from bff.authserver.views import Runtime, blueprint

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; "
                           "frame-ancestors 'none'; base-uri 'none'")
MAX_REQUEST_BYTES = 64 * 1024
REDIS_TIMEOUT = 2.0
BROWSER_PATHS = frozenset({"/authorize", "/logout"})


def create_app(settings: AuthServerSettings) -> Flask:
    app = Flask("bff.authserver")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=30, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[redis.ConnectionError])
    keys = KeyStore(settings)
    keys.ensure_signing_key()
    store = AuthStore(client)
    runtime = Runtime(settings=settings, store=store, keys=keys,
                      server=build_server(settings, store, keys),
                      backchannel=BackchannelLogout(settings, keys))
    app.extensions["bff_authserver"] = runtime
    app.register_blueprint(blueprint(runtime))
    app.after_request(_security_headers)
    app.register_error_handler(redis.RedisError, _store_unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unreadable_request)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _store_unavailable(error: redis.RedisError) -> tuple[Response, int]:
    log.error("redis unavailable: %s", type(error).__name__)
    return jsonify(error="temporarily_unavailable",
                   error_description="The authorization server's store is unavailable."), 503


# What Authlib and the standard library raise when a request's values cannot be read: a quote in
# ``redirect_uri`` that an error description may not carry (RFC 6749 section 5.2), a Basic
# credential that is not UTF-8, a value of the wrong shape. Each is the client's mistake.
BAD_INPUT = (ValueError, TypeError, LookupError, UnicodeError)


def _unreadable_request(error: Exception) -> Response:
    """Bad input gets a readable 400, as a page for a browser or RFC 6749 JSON for a client;
    anything else a 500 without a stack trace. Either way the class is logged, never the values."""
    bad_input = isinstance(error, BAD_INPUT)
    log.log(logging.INFO if bad_input else logging.ERROR, "request refused: %s",
            type(error).__name__, exc_info=not bad_input)
    status = 400 if bad_input else 500
    code = "invalid_request" if bad_input else "server_error"
    description = ("The request carries a value this server cannot read."
                   if bad_input else "The authorization server failed; please try again.")
    if request.path in BROWSER_PATHS:
        response = make_response(error_page(title="Invalid sign-in request" if bad_input
                                            else "Something went wrong", error=code,
                                            description=description), status)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
    else:
        response = jsonify(error=code, error_description=description)
        response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _http_error(error: HTTPException) -> tuple[Response, int]:
    code = (error.name or "error").lower().replace(" ", "_")
    return jsonify(error=code, error_description=error.description or ""), error.code or 500
