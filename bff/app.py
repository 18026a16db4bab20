"""``create_app``: wires settings, Redis, the OIDC client and the blueprints; nothing else."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.datastructures import Headers

from bff import admin, endpoints, frontend, health, limits, proxy, user_sessions
from bff.hot_path import HotPath
from bff.logins import PendingLogins
from bff.logs import RequestIdMiddleware
from bff.oidc import OidcClient
from bff.responses import error_response
from bff.runtime import Runtime
from bff.sansio.proxy_rules import RouteTable
from bff.sansio.security import security_headers
from bff.sealing import Sealer
from bff.sessions import SessionStore
from bff.settings import Settings, load_settings
from bff.store import RedisOptions, connect
from bff.tokens import TokenManager


def create_app(settings: Settings | None = None) -> Flask:
    """Build the BFF; without arguments, settings come from ``BFF_CONFIG`` and ``BFF_*``."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None
    health.install(app, settings)
    sealer = Sealer(settings.secret_keys)
    client = connect(settings.redis_url, RedisOptions(
        max_connections=settings.redis_max_connections, socket_timeout=settings.redis_timeout,
        connect_timeout=settings.redis_timeout))
    oidc = OidcClient(settings)
    store = SessionStore(client, sealer, settings)
    rt = app.extensions["bff"] = Runtime(
        settings=settings,
        store=store,
        oidc=oidc,
        tokens=TokenManager(store, oidc, settings, sealer),
        routes=RouteTable(settings.routes),
        proxy=proxy.Proxy(),
        logins=PendingLogins(client, sealer, settings.login_timeout),
        sealer=sealer,
    )
    app.extensions["bff_limits"] = limits.Limits(client, settings)
    app.before_request(limits.enforce)
    app.register_blueprint(endpoints.blueprint)
    app.register_blueprint(user_sessions.blueprint)
    admin_api = admin.admin_blueprint(settings)
    if admin_api is not None:
        app.register_blueprint(admin_api)
    spa = frontend.spa_blueprint(settings)
    if spa is not None:
        app.register_blueprint(spa)
    app.register_error_handler(Exception, error_response)
    app.after_request(_security_headers)
    app.wsgi_app = RequestIdMiddleware(HotPath(rt, app.wsgi_app))  # type: ignore[method-assign]
    return app


def _security_headers(response: Response) -> Response:
    response.headers = Headers(security_headers(list(response.headers.items()), request.path))
    return response
