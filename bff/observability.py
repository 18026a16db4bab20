"""Health and readiness endpoints, and log redaction."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, jsonify

from bff.errors import BffError
from bff.runtime import runtime

blueprint = Blueprint("observability", __name__)

_SECRETS = re.compile(
    r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*)"
    r"|((?:access_token|refresh_token|id_token|code|client_secret|logout_token)=)[^&\s\"']+"
    r"|((?:Bearer|Basic)\s+)[\w\-.~+/=]+"
    r"|((?:__Host-bff|bff|bff_login)=)[^;\s\"']+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Mask JWTs, token parameters, bearer credentials and our cookies in a log line."""
    def mask(match: re.Match[str]) -> str:
        prefix = next((g for g in match.groups()[1:] if g), "")
        return f"{prefix}[redacted]"

    return _SECRETS.sub(mask, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def install_log_redaction() -> None:
    """Every handler on the root logger, and werkzeug's request log, redacts before writing."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
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
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
