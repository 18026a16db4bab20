"""``GET /bff/authz``: forward-auth for an edge proxy that moves the bytes itself (nginx
``auth_request``, Traefik ``forwardAuth``, Envoy ``ext_authz`` over HTTP).

The edge asks "may this request pass, and with which ``Authorization``?" and passes the
original request as ``X-Forwarded-Method`` and ``X-Forwarded-Uri`` (Traefik's names), with the
browser's own headers (cookie, ``Origin``, ``Sec-Fetch-Site``, ``X-CSRF``). Those are believed
only from an address in ``BFF_TRUSTED_PROXIES``; anyone else gets 403 and nothing is read.
Then exactly the ``/api`` rules apply: the route table on the canonical form of the original
path, anti-forgery, scopes, claims, login freshness and the refresh single-flight. The answer
is 200 with ``Authorization: Bearer ...`` for the edge to copy upstream, never cacheable, and
with no CORS grant, so no page can read it even if it reached the endpoint.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from bff.errors import BadRequest, CsrfRejected, Forbidden, MethodNotAllowed, NotFound
from bff.proxy import credentials_for
from bff.runtime import runtime
from bff.sansio.proxy_rules import is_trusted
from bff.sansio.security import csrf_problem

blueprint = Blueprint("forward_auth", __name__)


@blueprint.get("/bff/authz")
def authorize_for_the_edge() -> Response:
    rt = runtime()
    if not is_trusted(request.remote_addr or "", rt.settings.trusted_proxies):
        raise Forbidden("Only a trusted edge proxy may ask.")
    original = request.headers.get("X-Forwarded-Uri", "")
    method = request.headers.get("X-Forwarded-Method", "GET").upper()
    if not original.startswith("/") or original.startswith("//"):
        raise BadRequest("X-Forwarded-Uri must be the original request's path and query.")
    match = rt.routes.match(urlsplit(original).path or "/")
    if match is None:
        raise NotFound("No API route serves this path.")
    route = match.route
    if method not in route.methods:
        raise MethodNotAllowed(f"{method} is not allowed on {route.prefix}.",
                               headers={"Allow": ", ".join(route.methods)})
    problem = csrf_problem(request.headers, rt.settings.origin)
    if problem:
        raise CsrfRejected(f"Refused: {problem}.")
    _, token = credentials_for(route)
    response = Response(status=200)
    if token is not None:
        response.headers["Authorization"] = f"Bearer {token}"
    response.headers["Cache-Control"] = "no-store, private"
    return response
