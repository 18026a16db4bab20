"""``/api`` and ``/bff/authz`` served before Flask: the two paths every proxied request takes.

A Flask request costs more Python before and after the view (request context, URL map, the
hooks, the session interface, the response object) than the BFF's own work on these paths
(bench/README.md). Their rules are plain functions (``bff.proxy``, ``bff.forward_auth``,
``bff.sansio``), so this WSGI layer calls them directly and does itself what the hooks do for
every other path: the header-size bound, the trace span, the metrics, one log line (the
audit line: ``proxy`` for ``/api``, ``authz`` for a forward-auth decision),
``X-Request-ID``, the security headers, and errors in the shapes ``bff.responses`` gives them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import RequestHeaderFieldsTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from bff import metrics, tracing
from bff.errors import MethodNotAllowed, PathRejected
from bff.forward_auth import edge_authorization
from bff.logs import current_request_id
from bff.proxy import AuditEntry, authorized_route, forward, method_refused, route_for
from bff.responses import as_bff_error, render_error, wants_json
from bff.runtime import Runtime
from bff.sansio.proxy_rules import is_trusted, raw_request_path, request_header_bytes
from bff.sansio.security import security_headers
from bff.settings import HTTP_METHODS

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

API_SPAN = "/api/<path:_path>"
AUTHZ_ROUTE = "/bff/authz"
UNMATCHED = "unmatched"


@dataclass
class Reply:
    """What one request answers: status, headers, body, and its bounded route label."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterable[bytes] = ()
    route: str = UNMATCHED
    error: str | None = None


class HotPath:
    """The WSGI layer in front of Flask; anything else passes to Flask untouched."""

    def __init__(self, rt: Runtime, app: WSGIApp) -> None:
        self._rt = rt
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("/api/") or path == "/api":
            api = True
        elif path == AUTHZ_ROUTE or path.startswith("/bff/authz/"):
            api = False
        else:
            return self._app(environ, start_response)
        req = Request(environ)
        started = time.perf_counter()
        entry = AuditEntry(req.method, path, "proxy" if api else "authz")
        if tracing.enabled():
            trusted = is_trusted(req.remote_addr or "", self._rt.settings.trusted_proxies)
            name = f"{req.method} {API_SPAN if api else AUTHZ_ROUTE}"
            with tracing.server_span(name, req.headers, trusted,
                                     **{"http.request.method": req.method}) as span:
                reply = self._reply(req, entry, api)
                span.set_attribute("http.route", reply.route)
                span.set_attribute("http.response.status_code", reply.status)
        else:
            reply = self._reply(req, entry, api)
        metrics.request_done(reply.route, req.method, reply.status,
                             time.perf_counter() - started)
        if not api or reply.error is not None:  # a proxied body writes its line when done
            entry.write(reply.status, reply.error or "ok")
        # Ours replaces any request id the upstream sent.
        headers = security_headers([(n, v) for n, v in reply.headers
                                    if n.lower() != "x-request-id"], path)
        headers.append(("X-Request-ID", current_request_id()))
        start_response(f"{reply.status} {HTTP_STATUS_CODES.get(reply.status, 'UNKNOWN')}",
                       headers)
        return reply.body

    def _reply(self, req: Request, entry: AuditEntry, api: bool) -> Reply:
        try:
            if request_header_bytes(req.environ) > self._rt.settings.max_header_bytes:
                raise RequestHeaderFieldsTooLarge(
                    f"The request headers exceed {self._rt.settings.max_header_bytes} bytes.")
            return self._api(req, entry) if api else self._authz(req, entry)
        except Exception as exc:  # noqa: BLE001 - every failure becomes its answer
            error = as_bff_error(exc)
            response = render_error(error, api or wants_json(req))
            return Reply(response.status_code,
                         list(response.get_wsgi_headers(req.environ).items()),
                         response.get_app_iter(req.environ),
                         route=self._label_after_error(req, entry, api), error=error.code)

    def _api(self, req: Request, entry: AuditEntry) -> Reply:
        raw = raw_request_path(req.environ)
        if req.method not in HTTP_METHODS:
            # Methods no route can allow (TRACE, CONNECT, WebDAV...): the route table's answer.
            raise method_refused(route_for(self._rt, raw).route, req.method)
        match = authorized_route(self._rt, req.headers, raw, req.method)
        entry.route = match.route.prefix
        status, headers, body = forward(self._rt, req, match, entry)
        return Reply(status, headers, body, route=match.route.prefix)

    def _authz(self, req: Request, entry: AuditEntry) -> Reply:
        if req.method not in HTTP_METHODS:
            raise MethodNotAllowed(f"{req.method} is not allowed here.",
                                   headers={"Allow": ", ".join(HTTP_METHODS)})
        headers = edge_authorization(self._rt, req, entry)
        return Reply(200, [*headers.items(), ("Content-Length", "0")], route=AUTHZ_ROUTE)

    def _label_after_error(self, req: Request, entry: AuditEntry, api: bool) -> str:
        """The metrics label of a refused request: for ``/api`` the route its path names, if
        any; for ``/bff/authz`` the endpoint (the original URI is the edge's to vouch for)."""
        if not api:
            return AUTHZ_ROUTE
        if entry.route != "-":
            return entry.route
        try:
            match = self._rt.routes.match(raw_request_path(req.environ))
        except PathRejected:
            match = None
        entry.route = match.route.prefix if match is not None else "-"
        return match.route.prefix if match is not None else UNMATCHED
