"""Serving the SPA: static files, ``index.html`` for client-side routes, a strict CSP."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def create_blueprint(directory: str) -> Blueprint:
    root = Path(directory).resolve()
    blueprint = Blueprint("frontend", __name__)

    @blueprint.get("/", defaults={"path": ""})
    @blueprint.get("/<path:path>")
    def spa(path: str) -> Response:
        if path.startswith(("api/", "bff/")):
            abort(404)
        candidate = (root / path).resolve()
        served = path if path and candidate.is_file() and candidate.is_relative_to(root) \
            else "index.html"
        response = send_from_directory(root, served, max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return blueprint
