"""Health, readiness, metrics, request ids, access and JSON logs, and log redaction.

Every request gets one id, taken from a well-formed incoming ``X-Request-ID`` or made here. It is
written back into the WSGI environ before Flask sees the request, so the proxy forwards this same
id upstream, and it is in ``flask.g.request_id``, the response's ``X-Request-ID`` and every log
line written while the request runs. Log lines pass through :func:`redact` before they are
written, tracebacks included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge

from bff import metrics
from bff.errors import BffError, ProviderUnavailable, UpstreamTimeout, UpstreamUnavailable
from bff.proxy import Proxy
from bff.runtime import runtime
from bff.settings import Route, Settings

blueprint = Blueprint("observability", __name__)
access_log = logging.getLogger("bff.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MANAGEMENT_BODY_LIMIT = 64 * 1024
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")
ENDPOINT_LOGINS = "bff.callback"
ENDPOINT_LOGOUTS = {"bff.logout_post": "user", "bff.logout_get": "user",
                    "bff.backchannel_logout": "backchannel"}
UNMATCHED = "unmatched"
PROBE_SECONDS = 2.0
PROBE_TIMEOUT = 3.0

_SECRETS = re.compile(
    r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*)"
    r"|((?:access_token|refresh_token|id_token|code|client_secret|logout_token|code_verifier|"
    r"password)=)[^&\s\"']+"
    r"|((?:\"(?:access_token|refresh_token|id_token|client_secret|password)\"\s*:\s*\"))"
    r"[^\"]+"
    r"|((?:Bearer|Basic)\s+)[\w\-.~+/=]+"
    r"|((?:__Host-bff|bff|bff_login)=)[^;\s\"']+",
    re.IGNORECASE,
)


# Every alternative of _SECRETS contains one of these (case-insensitively); a line holding none
# of them skips the regular expression, the hottest function of a proxied request (bench/).
_SECRET_MARKERS = ("eyj", "token", "code", "secret", "password", "bearer", "basic", "bff")


def _mask(match: re.Match[str]) -> str:
    prefix = next((g for g in match.groups()[1:] if g), "")
    return f"{prefix}[redacted]"


def redact(text: str) -> str:
    """Mask JWTs, token parameters and fields, bearer credentials and our cookies."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _SECRET_MARKERS):
        return text
    return _SECRETS.sub(_mask, text)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """One log record, one line: CR, LF, other control characters, Unicode line and paragraph
    separators and format characters (bidi overrides) become visible escapes, so no value a
    client sent can start a line of its own that looks like ours (invariant 12)."""
    if text.isprintable():
        return text
    return "".join(
        _NAMED_ESCAPES.get(ch) or (ch if ch.isprintable() or ch == " " else
                                   f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text
    )


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("bff_request_id", default="-")


def current_request_id() -> str:
    """The id of the request this thread is serving, its streamed body included; else ``-``."""
    return _request_id.get()


class RedactingFilter(logging.Filter):
    """Masks secrets in the message of every record that passes, escapes its control characters
    (whichever formatter writes it: ours, gunicorn's, werkzeug's), and stamps the request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(redact(record.getMessage()))
        record.args = None
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class RedactingFormatter(logging.Formatter):
    """Text lines; the whole line, traceback included, is redacted after formatting. A
    traceback's lines are indented and escaped, so none of them can pass for a record."""

    def format(self, record: logging.LogRecord) -> str:
        first, *rest = redact(super().format(record)).split("\n")
        return "\n".join([first, *(f"    {escape_controls(line)}" for line in rest)])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message, access fields.
    Each text field is redacted before it is encoded, so the line stays valid JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({k: redact(v) if isinstance(v, str) else v for k, v in entry.items()},
                          default=str)


class _BffHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler the BFF adds to the root logger when nobody configured logging."""


def configure_logging(log_format: str) -> None:
    """Text or JSON lines on stderr, redacted, with request ids; idempotent.

    Like ``logging.basicConfig`` it adds a handler only when the root logger has none (gunicorn
    and test runners bring their own); every root handler still gets the redacting filter.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_BffHandler())
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        if isinstance(handler, _BffHandler):
            handler.setFormatter(JsonFormatter() if log_format == "json"
                                 else RedactingFormatter(TEXT_FORMAT))
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RequestIdMiddleware:
    """Puts a well-formed ``X-Request-ID`` into the environ before anything reads it, and keeps
    it current for this thread until the response body is closed: lines logged while a proxied
    body streams (after Flask's request context is gone) still carry it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        incoming = str(environ.get("HTTP_X_REQUEST_ID", ""))
        if not REQUEST_ID.fullmatch(incoming):
            incoming = environ["HTTP_X_REQUEST_ID"] = secrets.token_hex(8)
        _request_id.set(incoming)
        try:
            return ClosingBody(self._app(environ, start_response),
                               lambda: _request_id.set("-"))
        except BaseException:
            _request_id.set("-")
            raise


class ClosingBody:
    """A WSGI response body that calls ``on_close`` once, when the server closes it: the end
    of a request, streamed bodies included."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], object]) -> None:
        self._body = body
        self._on_close: Callable[[], object] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


def route_label(path: str, routes: tuple[Route, ...], rule: str | None) -> str:
    """A bounded label: the configured /api prefix, the Flask rule, or ``unmatched``."""
    if path.startswith("/api/"):
        matching = [r.prefix for r in routes if path == r.prefix or path.startswith(r.prefix + "/")]
        return max(matching, key=len) if matching else UNMATCHED
    return rule or UNMATCHED


def _start_request() -> None:
    g.request_id = request.headers.get("X-Request-ID", "-")
    g.started = time.perf_counter()
    settings = runtime().settings
    size = sum(len(name) + len(value) + 4 for name, value in request.headers.items())
    if size > settings.max_header_bytes:
        raise RequestHeaderFieldsTooLarge(
            f"The request headers exceed {settings.max_header_bytes} bytes.")
    if not request.path.startswith("/api/"):
        request.max_content_length = MANAGEMENT_BODY_LIMIT


def _finish_request(response: Response) -> Response:
    settings = runtime().settings
    elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
    rule = request.url_rule.rule if request.url_rule is not None else None
    route = route_label(request.path, settings.routes, rule)
    metrics.REQUESTS.labels(route=route, method=request.method,
                            status=str(response.status_code)).inc()
    metrics.REQUEST_SECONDS.labels(route=route, method=request.method).observe(elapsed)
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
    """Request ids, bounds on header and management-body sizes, metrics, access logs, and the
    provider check before a login."""
    configure_logging(settings.log_format)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["bff_provider_probe"] = ProviderProbe(settings)
    app.before_request(_start_request)
    app.before_request(_provider_gate)
    app.after_request(_finish_request)
    app.register_blueprint(blueprint)


class MeasuredProxy(Proxy):
    """The proxy, timing each upstream until its response headers arrive."""

    def send(self, route: Route, method: str, url: str, headers: dict[str, str],
             body: Iterator[bytes] | None) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = super().send(route, method, url, headers, body)
            outcome = "answered"
            return response
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        except UpstreamUnavailable:
            outcome = "unreachable"
            raise
        finally:
            metrics.UPSTREAM_SECONDS.labels(route=route.prefix, outcome=outcome).observe(
                time.perf_counter() - started)


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
