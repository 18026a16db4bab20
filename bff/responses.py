"""The one place errors become responses: JSON for XHR and API calls, a page for navigations."""

from __future__ import annotations

import logging

from flask import Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from bff.errors import BffError
from bff.store import as_unavailable

log = logging.getLogger(__name__)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f5f6fa;color:#1d2333;
display:flex;min-height:100vh;align-items:center;justify-content:center;margin:0}}
main{{background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.08);padding:2rem 2.5rem;
max-width:32rem}}
h1{{font-size:1.4rem;margin-top:0}}
code{{background:#eef0f6;padding:.1rem .35rem;border-radius:4px}}
a{{color:#3556d8}}
</style></head>
<body><main><h1>{title}</h1><p>{description}</p><p>Error code: <code>{code}</code></p>
<p><a href="/">Back to the application</a></p></main></body></html>
"""


def wants_json() -> bool:
    if request.path.startswith("/api/") or "X-CSRF" in request.headers:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def error_response(error: BffError) -> Response:
    if wants_json():
        response = jsonify({**error.extra, "error": error.code,
                            "error_description": error.description})
        response.status_code = error.status
    else:
        page = PAGE.format(title=escape(error.title), description=escape(error.description),
                           code=escape(error.code))
        response = Response(page, status=error.status, mimetype="text/html")
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def http_error_response(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405, 413 from the server) in the same two shapes."""
    wrapped = BffError(error.description or error.name)
    wrapped.code = error.name.lower().replace(" ", "_")
    wrapped.status = error.code or 500
    wrapped.title = error.name
    return error_response(wrapped)


def store_outage_response(error: Exception) -> Response:
    """A Redis failure that escaped ``store_errors``: still a 503 the user can read."""
    return error_response(as_unavailable(error))


def unexpected_error_response(error: Exception) -> Response:
    """Never a stack trace for the user; the log keeps the type (tokens never reach messages)."""
    log.exception("unhandled error: %s", type(error).__name__)
    return error_response(BffError("An unexpected error happened; it has been logged."))
