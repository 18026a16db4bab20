"""``GET /bff/authz``: forward-auth for an edge proxy that moves the bytes itself (nginx
``auth_request``, Traefik ``forwardAuth``, Envoy ``ext_authz`` over HTTP).

The edge asks "may this request pass, and with which ``Authorization``?" and passes the
original request as ``X-Forwarded-Method`` and ``X-Forwarded-Uri`` (Traefik's names), with the
browser's own headers (cookie, ``Origin``, ``Sec-Fetch-Site``, ``X-CSRF``). Those are believed
only from an address in ``BFF_TRUSTED_PROXIES``; anyone else gets 403 and nothing is read.
``X-Forwarded-Upgrade: websocket`` (the edge's ``$http_upgrade``) marks a WebSocket handshake:
allowed only on routes with ``websocket = true``, with the exact ``Origin`` as anti-forgery.
Then exactly the ``/api`` rules apply: the route table on the canonical form of the original
path, anti-forgery, scopes, claims, login freshness and the refresh single-flight. The answer
is 200 with ``Authorization: Bearer ...`` for the edge to copy upstream, never cacheable, and
with no CORS grant, so no page can read it even if it reached the endpoint. ``bff.hot_path``
serves it, before Flask.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.wrappers import Request

from bff.errors import BadRequest, Forbidden
from bff.proxy import AuditEntry, authorized_route, credential_headers, credentials_for
from bff.runtime import Runtime
from bff.sansio.proxy_rules import is_trusted


def edge_authorization(rt: Runtime, req: Request, entry: AuditEntry) -> dict[str, str]:
    """The headers the edge copies upstream; ``entry`` learns the original request, its route
    and session for the decision's audit line. Any method and any path below ``/bff/authz``
    ask (Envoy's ext_authz calls with the original method at ``path_prefix`` + the original
    path); only the ``X-Forwarded-*`` headers are believed, and only from a trusted edge."""
    if not is_trusted(req.remote_addr or "", rt.settings.trusted_proxies):
        raise Forbidden("Only a trusted edge proxy may ask.")
    original = req.headers.get("X-Forwarded-Uri", "")
    method = req.headers.get("X-Forwarded-Method", "GET").upper()
    if not original.startswith("/") or original.startswith("//"):
        raise BadRequest("X-Forwarded-Uri must be the original request's path and query.")
    path = urlsplit(original).path or "/"
    entry.method, entry.path = method, path
    websocket = req.headers.get("X-Forwarded-Upgrade", "").lower() == "websocket"
    if websocket and method != "GET":
        raise BadRequest("A WebSocket upgrade is a GET.")
    match = authorized_route(rt, req.headers, path, method, websocket=websocket)
    entry.route = match.route.prefix
    entry.session, credential = credentials_for(rt, req, match.route)
    # The proof names the URL the edge forwards to: the route's upstream and the rest.
    return credential_headers(rt, credential, method, f"{match.route.upstream}{match.remainder}")
