"""The /api route table and the streaming reverse proxy.

Decisions (which route, is this path safe, which headers cross) are plain functions; the
``Proxy`` class does the I/O with a pooled urllib3 client, streaming both bodies.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import urllib3
from flask import Blueprint, Response, request
from urllib3.exceptions import HTTPError, TimeoutError

from bff.errors import (
    CsrfRejected,
    InsufficientScope,
    LoginRequired,
    MethodNotAllowed,
    NotFound,
    PathRejected,
    PayloadTooLarge,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bff.runtime import current_session, runtime
from bff.security import csrf_problem
from bff.sessions import Session
from bff.settings import HTTP_METHODS, Route

audit = logging.getLogger("bff.audit")

CHUNK = 64 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    "proxy-connection", "proxy-authenticate", "proxy-authorization",
})
NEVER_UPSTREAM = frozenset({
    "cookie", "authorization", "x-csrf", "host", "content-length", "forwarded",
    "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    "x-real-ip", "x-request-id",
})
NEVER_DOWNSTREAM = frozenset({"set-cookie", "www-authenticate", "content-length"})
FORBIDDEN_ENCODED = ("%2e", "%2f", "%5c", "%00", "%252e", "%252f", "%255c", "%2500")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    remainder: str


class RouteTable:
    """Longest prefix wins; a prefix matches whole path segments only."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def match(self, raw_path: str) -> RouteMatch | None:
        for route in self._routes:
            if raw_path == route.prefix or raw_path.startswith(route.prefix + "/"):
                return RouteMatch(route, raw_path[len(route.prefix):])
        return None


def check_remainder(remainder: str) -> str:
    """The path after the prefix, refused when it could climb out of the upstream prefix."""
    lowered = remainder.lower()
    if any(marker in lowered for marker in FORBIDDEN_ENCODED) or "\\" in remainder \
            or "\x00" in remainder:
        raise PathRejected("Encoded dots, slashes, backslashes and NUL are not allowed in paths.")
    segments = remainder.split("/")[1:]
    if any(seg in ("", ".", "..") for seg in segments[:-1]) or segments[-1:] in (["."], [".."]):
        raise PathRejected("Empty, '.' and '..' path segments are not allowed.")
    return remainder


def raw_request_path(environ: Mapping[str, object]) -> str:
    """The path exactly as the client sent it: decoded paths hide ``%2f`` and ``%2e``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        return raw.split("?", 1)[0]
    return urllib3.util.parse_url(str(environ.get("PATH_INFO", "/"))).path or "/"


def upstream_headers(incoming: Mapping[str, str], route: Route, token: str | None,
                     client_addr: str, public_origin: str, request_id: str) -> dict[str, str]:
    """Browser headers minus credentials, hop-by-hop and spoofable forwarding headers."""
    listed = {h.strip().lower() for h in incoming.get("Connection", "").split(",") if h.strip()}
    headers: dict[str, str] = {}
    for name, value in incoming.items():
        lowered = name.lower()
        normalised = lowered.replace("_", "-")
        if normalised in HOP_BY_HOP or normalised in NEVER_UPSTREAM or lowered in listed \
                or normalised.startswith("proxy-") or "_" in lowered:
            continue
        headers[name] = value
    scheme, _, host = public_origin.partition("://")
    headers["X-Forwarded-For"] = client_addr
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Host"] = host
    headers["X-Request-ID"] = request_id
    for name, value in route.headers:
        headers[name] = value
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def downstream_headers(upstream: urllib3.HTTPHeaderDict) -> list[tuple[str, str]]:
    listed = {h.strip().lower() for h in upstream.get("Connection", "").split(",") if h.strip()}
    return [
        (name, value) for name, value in upstream.items()
        if name.lower() not in HOP_BY_HOP and name.lower() not in NEVER_DOWNSTREAM
        and name.lower() not in listed
    ]


def is_invalid_token(response: urllib3.BaseHTTPResponse) -> bool:
    return response.status == 401 and "invalid_token" in response.headers.get(
        "WWW-Authenticate", "")


class Proxy:
    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(num_pools=32, maxsize=64, block=False, retries=False)

    def send(self, route: Route, method: str, url: str, headers: dict[str, str],
             body: Iterator[bytes] | None) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.urlopen(
                method, url, body=body, headers=headers, chunked=body is not None,
                preload_content=False, decode_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=route.connect_timeout, read=route.read_timeout),
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"The API at {route.prefix} did not answer in time.") from exc
        except HTTPError as exc:
            raise UpstreamUnavailable(f"The API at {route.prefix} cannot be reached.") from exc


def _body_chunks(limit: int) -> Iterator[bytes] | None:
    """The request body as a stream, cut off with 413 past the route's limit."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    if length == 0 or (length is None and "chunked" not in
                       request.headers.get("Transfer-Encoding", "").lower()):
        return None
    stream = request.stream

    def chunks() -> Iterator[bytes]:
        sent = 0
        while chunk := stream.read(CHUNK):
            sent += len(chunk)
            if sent > limit:
                raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
            yield chunk

    return chunks()


def _relay(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := response.read1(CHUNK):
            yield chunk
    except HTTPError:
        return
    finally:
        response.release_conn()


blueprint = Blueprint("proxy", __name__)


@blueprint.route("/api/", defaults={"_path": ""}, methods=list(HTTP_METHODS))
@blueprint.route("/api/<path:_path>", methods=list(HTTP_METHODS))
def proxy_api(_path: str) -> Response:
    started = time.perf_counter()
    rt = runtime()
    problem = csrf_problem(request.headers, rt.settings.origin)
    if problem:
        raise CsrfRejected(f"Refused: {problem}.")
    raw_path = raw_request_path(request.environ)
    match = rt.routes.match(raw_path)
    if match is None:
        raise NotFound(f"No API route serves {request.path}.")
    route = match.route
    if request.method not in route.methods:
        raise MethodNotAllowed(f"{request.method} is not allowed on {route.prefix}.",
                               headers={"Allow": ", ".join(route.methods)})
    remainder = check_remainder(match.remainder)
    session, token = _credentials(route)
    url = f"{route.upstream}{remainder}"
    if request.query_string:
        url = f"{url}?{request.query_string.decode('latin-1')}"
    body = _body_chunks(route.max_body_bytes)
    request_id = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)
    client_addr = request.remote_addr or ""

    def send(bearer: str | None) -> urllib3.BaseHTTPResponse:
        headers = upstream_headers(request.headers, route, bearer, client_addr, rt.settings.origin,
                                   request_id)
        return rt.proxy.send(route, request.method, url, headers, body)

    upstream = send(token)
    if (session is not None and token is not None and request.method in IDEMPOTENT
            and body is None and is_invalid_token(upstream)):
        upstream.drain_conn()
        upstream.release_conn()
        session, token = rt.tokens.refresh_after_rejection(session, token)
        upstream = send(token)
    upstream_time = time.perf_counter() - started
    audit.info(
        "proxy method=%s route=%s status=%s upstream_ms=%.1f session=%s sub=%s",
        request.method, route.prefix, upstream.status, upstream_time * 1000,
        session.handle[:12] if session else "-", session.sub if session else "-",
    )
    return Response(_relay(upstream), status=upstream.status,
                    headers=downstream_headers(upstream.headers), direct_passthrough=True)


def _credentials(route: Route) -> tuple[Session | None, str | None]:
    """The session (when the route's token type needs one) and the bearer to attach."""
    rt = runtime()
    if route.token == "none":
        return None, None
    if route.token == "client":
        return None, rt.tokens.client_token()
    session = current_session()
    if session is None:
        if route.token == "user":
            raise LoginRequired("You are not logged in, or your session has ended.")
        if route.token == "user-or-none":
            return None, None
        return None, rt.tokens.client_token()
    missing = [s for s in route.scopes if s not in session.tokens.scope]
    if missing:
        raise InsufficientScope(f"This requires the scope {' '.join(missing)}.")
    return rt.tokens.access_token(session)

