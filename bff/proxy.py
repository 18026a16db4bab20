"""The /api route table and the streaming reverse proxy.

Decisions (which route, is this path safe, which headers cross) are plain functions over plain
data. ``Proxy`` and the view do the I/O: a pooled urllib3 client streams both bodies chunk by
chunk, so memory stays flat whatever the size and Server-Sent Events pass through as written.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import urllib3
from flask import Blueprint, Response, request
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError
from werkzeug.exceptions import MethodNotAllowed as MethodOutsideRules

from bff.errors import (
    BffError,
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
from bff.responses import error_response, http_error_response
from bff.runtime import current_session, runtime
from bff.security import csrf_problem
from bff.sessions import Session
from bff.settings import HTTP_METHODS, IPNetwork, Route, SettingsError

audit = logging.getLogger("bff.audit")

CHUNK = 64 * 1024
MAX_DECODINGS = 3
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
# Browser credentials, framing the proxy redoes itself, and what the BFF itself vouches for.
NEVER_UPSTREAM = frozenset({
    "cookie", "authorization", "x-csrf", "host", "content-length", "expect", "forwarded",
    "x-real-ip", "x-client-ip", "true-client-ip", "x-request-id",
})
# Headers upstreams commonly read as "who is calling", which only a proxy may set.
IDENTITY_HEADERS = frozenset({
    "remote-user", "x-remote-user", "x-user", "x-user-id", "x-userinfo", "x-email",
    "x-id-token", "x-access-token",
})
SPOOFABLE_PREFIXES = ("proxy-", "x-forwarded-", "x-auth-request-")
NEVER_DOWNSTREAM = frozenset({"set-cookie", "set-cookie2", "www-authenticate"})
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
INVALID_TOKEN = re.compile(r"""\berror\s*=\s*"?invalid_token\b""")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    remainder: str


class RouteTable:
    """Longest prefix wins; a prefix matches whole path segments only."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        for route in routes:
            check_static_headers(route)
        self._routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def match(self, raw_path: str) -> RouteMatch | None:
        for route in self._routes:
            if raw_path == route.prefix or raw_path.startswith(route.prefix + "/"):
                return RouteMatch(route, raw_path[len(route.prefix):])
        return None


def header_key(name: str) -> str:
    """One spelling for a header name: WSGI servers read ``X_User`` and ``X-User`` alike."""
    return name.lower().replace("_", "-")


def check_static_headers(route: Route) -> None:
    """A route's extra headers may not forge what the proxy itself controls."""
    seen: set[str] = set()
    for name, _ in route.headers:
        key = header_key(name)
        controlled = (key in HOP_BY_HOP or key in NEVER_UPSTREAM or key.startswith("proxy-")
                      or key.startswith("x-forwarded-"))
        if key == "authorization" and route.token == "none":
            controlled = False
        if controlled or key in seen or "_" in name:
            raise SettingsError(
                f"[[routes]] {route.prefix}: the extra header {name!r} is set by the proxy "
                "itself (or given twice); remove it"
            )
        seen.add(key)


def check_remainder(remainder: str) -> str:
    """The path after the prefix, refused when any decoding of it could leave the prefix.

    Upstreams decode once, some twice; so the raw path and up to two more percent-decodings of it
    must each be free of dot segments (also ``..;`` as Tomcat reads it), empty segments,
    backslashes and control characters, and a decoding may not create a new ``/``.
    """
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in remainder) or "#" in remainder:
        raise PathRejected("Spaces, control characters and non-ASCII must be percent-encoded.")
    if STRAY_PERCENT.search(remainder):
        raise PathRejected("A '%' in the path must start a percent-encoded byte.")
    candidate = remainder
    for _ in range(MAX_DECODINGS):
        _check_segments(candidate)
        try:
            decoded = unquote(candidate, errors="strict")
        except UnicodeDecodeError as exc:
            raise PathRejected("Percent-encoded bytes in the path must be UTF-8.") from exc
        if decoded == candidate:
            return remainder
        if decoded.count("/") != candidate.count("/"):
            raise PathRejected("Encoded slashes are not allowed in paths.")
        candidate = decoded
    raise PathRejected("The path is percent-encoded too many times.")


def _check_segments(path: str) -> None:
    if "\\" in path or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise PathRejected("Backslashes, NUL and control characters are not allowed in paths.")
    segments = path.split("/")[1:]
    if any(seg == "" for seg in segments[:-1]):
        raise PathRejected("Empty path segments ('//') are not allowed.")
    if any(seg.split(";", 1)[0] in (".", "..") for seg in segments):
        raise PathRejected("'.' and '..' path segments are not allowed.")


def raw_request_path(environ: Mapping[str, object]) -> str:
    """The path exactly as the client sent it: decoded paths hide ``%2f`` and ``%2e``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if not raw.startswith("/"):
            raw = urlsplit(raw).path if "://" in raw else ""
        return raw.split("?", 1)[0]
    decoded = str(environ.get("PATH_INFO", "/")).encode("latin-1")
    return quote(decoded, safe="/:@!$&'()*+,;=-._~")


def connection_listed(value: str) -> set[str]:
    return {header_key(h.strip()) for h in value.split(",") if h.strip()}


def is_hop_by_hop(key: str, listed: set[str]) -> bool:
    return key in HOP_BY_HOP or key in listed or key.startswith("proxy-")


@dataclass(frozen=True)
class Forwarding:
    """Who asked, as far as the BFF can vouch for it."""

    peer: str
    peer_is_trusted_proxy: bool
    public_origin: str
    request_id: str


def is_trusted(peer: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def forwarding_headers(incoming: Mapping[str, str], forwarding: Forwarding) -> dict[str, str]:
    """``X-Forwarded-*`` and ``Forwarded`` (RFC 7239): extended when the peer is a trusted
    proxy, otherwise replaced, so a browser cannot claim another address."""
    scheme, _, host = forwarding.public_origin.partition("://")
    node = f'"[{forwarding.peer}]"' if ":" in forwarding.peer else forwarding.peer
    chain = forwarding.peer
    forwarded = f'for={node};host="{host}";proto={scheme}'
    if forwarding.peer_is_trusted_proxy:
        if prior := incoming.get("X-Forwarded-For", "").strip():
            chain = f"{prior}, {chain}"
        if prior := incoming.get("Forwarded", "").strip():
            forwarded = f"{prior}, {forwarded}"
    return {
        "X-Forwarded-For": chain,
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Host": host,
        "Forwarded": forwarded,
        "X-Request-ID": forwarding.request_id,
    }


def upstream_headers(incoming: Mapping[str, str], route: Route, token: str | None,
                     forwarding: Forwarding) -> dict[str, str]:
    """Browser headers minus credentials, hop-by-hop and anything the BFF itself vouches for,
    compared in every spelling; then the forwarding headers, the route's own and the bearer."""
    listed = connection_listed(incoming.get("Connection", ""))
    route_owned = {header_key(name) for name, _ in route.headers}
    headers: dict[str, str] = {}
    for name, value in incoming.items():
        key = header_key(name)
        if ("_" in name or is_hop_by_hop(key, listed) or key in NEVER_UPSTREAM
                or key in IDENTITY_HEADERS or key.startswith(SPOOFABLE_PREFIXES)
                or key in route_owned):
            continue
        headers[name] = value
    headers.update(forwarding_headers(incoming, forwarding))
    headers.update(route.headers)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def downstream_headers(upstream: urllib3.HTTPHeaderDict) -> list[tuple[str, str]]:
    """The upstream's headers minus hop-by-hop ones, cookies for our origin and auth dialogs."""
    listed = connection_listed(upstream.get("Connection", ""))
    chunked = "transfer-encoding" in upstream
    return [
        (name, value) for name, value in upstream.items()
        if not is_hop_by_hop(header_key(name), listed)
        and header_key(name) not in NEVER_DOWNSTREAM
        and not (chunked and header_key(name) == "content-length")
    ]


def is_invalid_token(response: urllib3.BaseHTTPResponse) -> bool:
    return response.status == 401 and bool(
        INVALID_TOKEN.search(response.headers.get("WWW-Authenticate", "")))


class Proxy:
    """One connection pool per upstream host, kept alive between requests."""

    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(num_pools=32, maxsize=64, block=False, retries=False)

    def send(self, route: Route, method: str, url: str, headers: dict[str, str],
             body: Iterator[bytes] | None) -> urllib3.BaseHTTPResponse:
        try:
            response = self._pool.urlopen(
                method, url, body=body, headers=headers,
                chunked=body is not None and "Content-Length" not in headers,
                preload_content=False, decode_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=route.connect_timeout, read=route.read_timeout),
            )
        except NewConnectionError as exc:  # a subclass of the timeout below, kept for compat
            raise UpstreamUnavailable(f"The API at {route.prefix} cannot be reached.") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"The API at {route.prefix} did not answer in time.") from exc
        except HTTPError as exc:
            raise UpstreamUnavailable(f"The API at {route.prefix} cannot be reached.") from exc
        if "close" in connection_listed(response.headers.get("Connection", "")):
            _not_reusable(response)
        return response


def _not_reusable(response: urllib3.BaseHTTPResponse) -> None:
    """http.client honours only the first Connection header. When a later one says ``close``,
    hand the socket to the response alone, as http.client does itself for ``close``: the pooled
    connection then reconnects instead of writing into a socket the upstream is closing."""
    connection = response.connection
    if connection is not None and connection.sock is not None:
        sock, connection.sock = connection.sock, None
        sock.close()


class UpstreamBodyBroken(ConnectionAbortedError):
    """The upstream stopped mid-body: the browser's connection is cut rather than ending the
    response cleanly, so a truncated body never looks complete."""


class AuditEntry:
    """One audit line per proxied request, written when its response body is done."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.started = time.perf_counter()
        self.route = "-"
        self.session: Session | None = None
        self.upstream_ms: float | None = None
        self.bytes_out = 0

    def upstream_answered(self) -> None:
        self.upstream_ms = (time.perf_counter() - self.started) * 1000

    def write(self, status: int, outcome: str = "ok") -> None:
        audit.info(
            "proxy method=%s route=%s status=%d outcome=%s duration_ms=%.1f upstream_ms=%s "
            "bytes_out=%d session=%s sub=%s",
            self.method, self.route, status, outcome,
            (time.perf_counter() - self.started) * 1000,
            "-" if self.upstream_ms is None else f"{self.upstream_ms:.1f}", self.bytes_out,
            self.session.handle[:16] if self.session else "-",
            self.session.sub if self.session else "-",
        )


class Relay:
    """The upstream body as a WSGI iterable, read as it arrives.

    The connection goes back to the pool only when its body was read to the end; a response
    abandoned midway (the browser left, the upstream broke) closes it instead, since the next
    request would otherwise read the rest of this one.
    """

    def __init__(self, upstream: urllib3.BaseHTTPResponse, entry: AuditEntry) -> None:
        self._upstream = upstream
        self._entry = entry
        self._complete = False
        self._outcome = "client_gone"
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._upstream.read1(CHUNK):
                self._entry.bytes_out += len(chunk)
                yield chunk
        except HTTPError as exc:
            self._outcome = "upstream_broke"
            raise UpstreamBodyBroken("the upstream ended its response early") from exc
        self._complete = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        finished = self._complete or self._upstream.length_remaining == 0
        if finished:
            self._upstream.drain_conn()
        else:
            self._upstream.close()
        self._upstream.release_conn()
        self._entry.write(self._upstream.status, "ok" if finished else self._outcome)


def discard(response: urllib3.BaseHTTPResponse) -> None:
    response.close()
    response.release_conn()


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


blueprint = Blueprint("proxy", __name__)


@blueprint.route("/api/", defaults={"_path": ""}, methods=list(HTTP_METHODS))
@blueprint.route("/api/<path:_path>", methods=list(HTTP_METHODS), merge_slashes=False)
def proxy_api(_path: str) -> Response:
    entry = AuditEntry(request.method)
    try:
        return _forward(entry)
    except BffError as exc:
        entry.write(exc.status, exc.code)
        raise


@blueprint.app_errorhandler(MethodOutsideRules)
def method_outside_rules(error: MethodOutsideRules) -> Response:
    """Methods no route can allow (TRACE, CONNECT, WebDAV...) get the route table's answer."""
    if not request.path.startswith("/api/"):
        return http_error_response(error)
    match = runtime().routes.match(raw_request_path(request.environ))
    if match is None:
        return error_response(NotFound(f"No API route serves {request.path}."))
    return error_response(_method_refused(match.route))


def _method_refused(route: Route) -> MethodNotAllowed:
    return MethodNotAllowed(f"{request.method} is not allowed on {route.prefix}.",
                            headers={"Allow": ", ".join(route.methods)})


def _forward(entry: AuditEntry) -> Response:
    rt = runtime()
    problem = csrf_problem(request.headers, rt.settings.origin)
    if problem:
        raise CsrfRejected(f"Refused: {problem}.")
    match = rt.routes.match(raw_request_path(request.environ))
    if match is None:
        raise NotFound(f"No API route serves {request.path}.")
    route = match.route
    entry.route = route.prefix
    if request.method not in route.methods:
        raise _method_refused(route)
    remainder = check_remainder(match.remainder)
    session, token = _credentials(route)
    entry.session = session
    url = f"{route.upstream}{remainder}"
    if request.query_string:
        url = f"{url}?{request.query_string.decode('latin-1')}"
    body = _body_chunks(route.max_body_bytes)
    incoming_id = request.headers.get("X-Request-ID", "")
    peer = request.remote_addr or ""
    forwarding = Forwarding(
        peer=peer,
        peer_is_trusted_proxy=is_trusted(peer, rt.settings.trusted_proxies),
        public_origin=rt.settings.origin,
        request_id=incoming_id if REQUEST_ID.fullmatch(incoming_id) else secrets.token_hex(8),
    )

    def send(bearer: str | None) -> urllib3.BaseHTTPResponse:
        headers = upstream_headers(request.headers, route, bearer, forwarding)
        if body is not None and request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        return rt.proxy.send(route, request.method, url, headers, body)

    upstream = send(token)
    if (session is not None and token is not None and request.method in IDEMPOTENT
            and body is None and is_invalid_token(upstream)):
        discard(upstream)
        session, token = rt.tokens.refresh_after_rejection(session, token)
        entry.session = session
        upstream = send(token)
    entry.upstream_answered()
    return Response(Relay(upstream, entry), status=upstream.status,
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
