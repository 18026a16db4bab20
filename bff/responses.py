"""The one place errors become responses: JSON for XHR and API calls, a page for navigations."""

from __future__ import annotations

import json
import logging

from flask import request
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from bff.errors import BffError
from bff.store import OUTAGE_ERRORS, as_unavailable

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


def wants_json(req: Request) -> bool:
    if req.path.startswith("/api/") or "X-CSRF" in req.headers:
        return True
    best = req.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def render_error(error: BffError, as_json: bool) -> Response:
    """The error as JSON (``error``, ``error_description`` and its extra fields) or as a page;
    never stored. Needs no Flask context: the hot path renders with it too."""
    if as_json:
        body = json.dumps({**error.extra, "error": error.code,
                           "error_description": error.description}, separators=(",", ":"))
        response = Response(f"{body}\n", status=error.status, mimetype="application/json")
    else:
        page = PAGE.format(title=escape(error.title), description=escape(error.description),
                           code=escape(error.code))
        response = Response(page, status=error.status, mimetype="text/html")
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def as_bff_error(error: Exception) -> BffError:
    """Any exception as the error a user sees: ours as they are, Werkzeug's (404, 405, 413 from
    the server, 431) by their status, a Redis outage as 503, anything else as a logged 500 that
    shows no detail (tokens never reach messages)."""
    if isinstance(error, BffError):
        return error
    if isinstance(error, HTTPException):
        allowed = getattr(error, "valid_methods", None)
        wrapped = BffError(error.description or error.name,
                           headers={"Allow": ", ".join(allowed)} if allowed else None)
        wrapped.code = error.name.lower().replace(" ", "_")
        wrapped.status = error.code or 500
        wrapped.title = error.name
        return wrapped
    if isinstance(error, OUTAGE_ERRORS):
        return as_unavailable(error)
    log.exception("unhandled error: %s", type(error).__name__)
    return BffError("An unexpected error happened; it has been logged.")


def error_response(error: Exception) -> Response:
    """Flask's error handler: every exception of a request Flask serves, in the shape the
    request wants."""
    return render_error(as_bff_error(error), wants_json(request))
