"""Health, readiness and metrics endpoints, and the per-request hooks that feed them: request
size bounds, Prometheus series, the access line, and the provider check before a login."""

from __future__ import annotations

import logging
import threading
import time

import requests
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge

from bff import metrics, tracing
from bff.errors import BffError, ProviderUnavailable
from bff.logs import configure_logging, current_request_id
from bff.runtime import runtime
from bff.sansio.proxy_rules import is_trusted, request_header_bytes
from bff.settings import Settings

blueprint = Blueprint("health", __name__)
access_log = logging.getLogger("bff.access")
log = logging.getLogger(__name__)

MANAGEMENT_BODY_LIMIT = 64 * 1024
ENDPOINT_LOGINS = "bff.callback"
ENDPOINT_LOGOUTS = {"bff.logout_post": "user", "bff.logout_get": "user",
                    "bff.backchannel_logout": "backchannel"}
UNMATCHED = "unmatched"
PROBE_SECONDS = 2.0
PROBE_TIMEOUT = 3.0


def _start_request() -> None:
    g.started = time.perf_counter()
    settings = runtime().settings
    if tracing.enabled():
        trusted = is_trusted(request.remote_addr or "", settings.trusted_proxies)
        g.trace_context = tracing.server_span(
            f"{request.method} {request.url_rule.rule if request.url_rule else 'unmatched'}",
            request.headers, trusted, **{"http.request.method": request.method})
        g.trace_span = g.trace_context.__enter__()
    if request_header_bytes(request.environ) > settings.max_header_bytes:
        raise RequestHeaderFieldsTooLarge(
            f"The request headers exceed {settings.max_header_bytes} bytes.")
    request.max_content_length = MANAGEMENT_BODY_LIMIT


def _finish_request(response: Response) -> Response:
    settings = runtime().settings
    elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
    rule = request.url_rule.rule if request.url_rule is not None else None
    route = rule or UNMATCHED
    metrics.request_done(route, request.method, response.status_code, elapsed)
    if g.get("trace_span") is not None:
        g.trace_span.set_attribute("http.route", route)
        g.trace_span.set_attribute("http.response.status_code", response.status_code)
    _count_logins_and_logouts(response, settings)
    response.headers["X-Request-ID"] = current_request_id()
    access_log.info(
        "%s %s %d %.1fms", request.method, request.path, response.status_code, elapsed * 1000,
        extra={"method": request.method, "path": request.path, "route": route,
               "status": response.status_code, "duration_ms": round(elapsed * 1000, 1)},
    )
    return response


def _count_logins_and_logouts(response: Response, settings: Settings) -> None:
    if request.endpoint == ENDPOINT_LOGINS:
        new_session = any(
            cookie.startswith(f"{settings.cookie_name}=") and
            not cookie.startswith(f"{settings.cookie_name}=;")
            for cookie in response.headers.getlist("Set-Cookie"))
        outcome = "success" if new_session else \
            "failure" if response.status_code >= 400 else "no_session"
        metrics.LOGINS.labels(outcome=outcome).inc()
    elif request.endpoint in ENDPOINT_LOGOUTS and response.status_code < 400:
        metrics.LOGOUTS.labels(kind=ENDPOINT_LOGOUTS[request.endpoint]).inc()


class ProviderProbe:
    """Does the provider answer right now? Its discovery document is fetched at most once every
    ``PROBE_SECONDS`` per process, so a login flood cannot turn into a provider flood."""

    def __init__(self, settings: Settings) -> None:
        self._url = f"{settings.issuer}/.well-known/openid-configuration"
        self._timeout = min(settings.provider_timeout, PROBE_TIMEOUT)
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._reachable = False

    def reachable(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= PROBE_SECONDS:
                try:
                    response = requests.get(self._url, timeout=self._timeout)
                    self._reachable = response.status_code == 200
                except requests.RequestException:
                    self._reachable = False
                self._checked_at = time.monotonic()
            return self._reachable


def _provider_gate() -> None:
    """A login while the provider is down gets our page now, not a browser error at the
    provider's door; sessions already open keep working."""
    if request.endpoint != "bff.login":
        return
    probe: ProviderProbe = current_app.extensions["bff_provider_probe"]
    if not probe.reachable():
        raise ProviderUnavailable(
            "The identity provider cannot be reached right now, so logging in is not possible; "
            "please try again in a few minutes. If you are logged in already, carry on.")


def install(app: Flask, settings: Settings) -> None:
    """Bounds on header and management-body sizes, metrics, access logs, and the provider
    check before a login, for the requests Flask serves (``bff.hot_path`` does the same for
    ``/api`` and ``/bff/authz``)."""
    configure_logging(settings.log_format)
    app.extensions["bff_provider_probe"] = ProviderProbe(settings)
    if not tracing.enabled() and tracing.configure():
        log.info("tracing on: OpenTelemetry spans exported per OTEL_* settings")
    app.before_request(_start_request)
    app.before_request(_provider_gate)
    app.after_request(_finish_request)
    app.teardown_request(_end_request_span)
    app.register_blueprint(blueprint)


def _end_request_span(error: BaseException | None) -> None:
    span_context = g.pop("trace_context", None)
    if span_context is not None:
        span_context.__exit__(None, None, None)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process answers: nothing else is checked, so a Redis outage never restarts it."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Send traffic here: Redis answers and the provider's discovery document was read (it is
    kept for an hour). A provider that goes down later does not make instances unready, since
    sessions with valid tokens still work; ``provider_live`` says whether it answers now."""
    rt = runtime()
    checks: dict[str, str] = {}
    try:
        rt.store.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    try:
        rt.oidc.metadata()
        checks["provider"] = "ok"
    except BffError as exc:
        checks["provider"] = f"unavailable ({exc.code})"
    ready = all(v == "ok" for v in checks.values())
    probe: ProviderProbe = current_app.extensions["bff_provider_probe"]
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks,
                        "provider_live": "ok" if probe.reachable() else "unreachable"})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/metrics")
def metrics_endpoint() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
