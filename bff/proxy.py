"""The streaming reverse proxy behind /api.

The decisions (which route, is this path safe, which headers cross) live in
``bff.sansio.proxy_rules``; ``Proxy`` and ``forward`` do the I/O: a pooled urllib3 client
streams both bodies chunk by chunk, so memory stays flat whatever the size and Server-Sent
Events pass through as written. ``bff.hot_path`` serves ``/api`` with them, before Flask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError
from werkzeug.wrappers import Request

from bff import metrics, tracing
from bff.errors import (
    CsrfRejected,
    Forbidden,
    InsufficientClaims,
    InsufficientScope,
    LoginRequired,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ReauthenticationRequired,
    TokenUnavailable,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bff.logs import current_request_id
from bff.runtime import Runtime, session_for
from bff.sansio.authz import is_fresh, reauthentication_url, unmet_claims
from bff.sansio.proxy_rules import (
    IDEMPOTENT,
    Forwarding,
    RouteMatch,
    connection_listed,
    credential_plan,
    downstream_headers,
    is_invalid_token,
    is_trusted,
    upstream_headers,
)
from bff.sansio.refresh import Credential
from bff.sansio.security import csrf_problem, is_safe_return_url, websocket_problem
from bff.sessions import Session
from bff.settings import Route
from bff.signing_keys import dpop_proof

audit = logging.getLogger("bff.audit")

CHUNK = 64 * 1024
MAX_NONCE_LENGTH = 512
MAX_NONCE_ORIGINS = 256


class Proxy:
    """One connection pool per upstream host, kept alive between requests."""

    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(num_pools=32, maxsize=64, block=False, retries=False)
        self._nonces: dict[str, str] = {}

    def nonce_for(self, url: str) -> str | None:
        """The last DPoP nonce this upstream's origin gave, for the next proof to it."""
        return self._nonces.get(_origin(url))

    def remember_nonce(self, url: str, response: urllib3.BaseHTTPResponse,
                       challenge: str) -> bool:
        """Keep the upstream's ``DPoP-Nonce``; True when it refused the proof for lacking it."""
        nonce = response.headers.get("DPoP-Nonce")
        if not nonce or len(nonce) > MAX_NONCE_LENGTH:
            return False
        origin = _origin(url)
        if len(self._nonces) >= MAX_NONCE_ORIGINS and origin not in self._nonces:
            self._nonces.clear()
        self._nonces[origin] = nonce
        return response.status == 401 and "use_dpop_nonce" in challenge

    def send(self, route: Route, method: str, url: str, headers: dict[str, str],
             body: Iterator[bytes] | None) -> urllib3.BaseHTTPResponse:
        """The upstream's response, headers read and body not; traced (with ``traceparent``
        passed on) when tracing is on."""
        with tracing.span(f"upstream {route.prefix}", "client",
                          **{"http.request.method": method, "http.route": route.prefix}) as span:
            tracing.inject(headers)
            response = self._timed(route, method, url, headers, body)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
        return response

    def _timed(self, route: Route, method: str, url: str, headers: dict[str, str],
               body: Iterator[bytes] | None) -> urllib3.BaseHTTPResponse:
        """Timed until the response headers arrive, per route and outcome."""
        started = time.perf_counter()
        outcome = "error"
        try:
            response = self._pool.urlopen(
                method, url, body=body, headers=headers,
                chunked=body is not None and "Content-Length" not in headers,
                preload_content=False, decode_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=route.connect_timeout, read=route.read_timeout),
            )
            outcome = "answered"
        except NewConnectionError as exc:  # a subclass of the timeout below, kept for compat
            outcome = "unreachable"
            raise UpstreamUnavailable(f"The API at {route.prefix} cannot be reached.") from exc
        except TimeoutError as exc:
            outcome = "timeout"
            raise UpstreamTimeout(f"The API at {route.prefix} did not answer in time.") from exc
        except HTTPError as exc:
            outcome = "unreachable"
            raise UpstreamUnavailable(f"The API at {route.prefix} cannot be reached.") from exc
        finally:
            metrics.child(metrics.UPSTREAM_SECONDS, route.prefix, outcome).observe(
                time.perf_counter() - started)
        if "close" in connection_listed(response.headers.get("Connection", "")):
            _not_reusable(response)
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
    """One audit line per proxied request (``proxy``), written when its response body is done,
    or per forward-auth decision (``authz``, naming the edge's original request)."""

    def __init__(self, method: str, path: str, kind: str = "proxy") -> None:
        self.kind = kind
        self.method = method
        self.path = path
        self.started = time.perf_counter()
        self.route = "-"
        self.session: Session | None = None
        self.upstream_ms: float | None = None
        self.bytes_out = 0

    def upstream_answered(self) -> None:
        self.upstream_ms = (time.perf_counter() - self.started) * 1000

    def write(self, status: int, outcome: str = "ok") -> None:
        """The request's only log line (the access line is left out for it): the structured
        fields of an access line, and the proxy's own."""
        duration_ms = round((time.perf_counter() - self.started) * 1000, 1)
        audit.info(
            "%s method=%s route=%s status=%d outcome=%s duration_ms=%.1f upstream_ms=%s "
            "bytes_out=%d session=%s sub=%s",
            self.kind, self.method, self.route, status, outcome, duration_ms,
            "-" if self.upstream_ms is None else f"{self.upstream_ms:.1f}", self.bytes_out,
            self.session.handle[:16] if self.session else "-",
            self.session.sub if self.session else "-",
            extra={"method": self.method, "path": self.path, "route": self.route,
                   "status": status, "duration_ms": duration_ms},
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


def _body_chunks(req: Request, limit: int) -> Iterator[bytes] | None:
    """The request body as a stream, cut off with 413 past the route's limit."""
    length = req.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    if length == 0 or (length is None and "chunked" not in
                       req.headers.get("Transfer-Encoding", "").lower()):
        return None
    stream = req.stream

    def chunks() -> Iterator[bytes]:
        sent = 0
        while chunk := stream.read(CHUNK):
            sent += len(chunk)
            if sent > limit:
                raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
            yield chunk

    return chunks()


def method_refused(route: Route, method: str) -> MethodNotAllowed:
    return MethodNotAllowed(f"{method} is not allowed on {route.prefix}.",
                            headers={"Allow": ", ".join(route.methods)})


def route_for(rt: Runtime, raw_path: str) -> RouteMatch:
    """The route for the canonical form of ``raw_path``; 404 when none serves it."""
    match = rt.routes.match(raw_path)
    if match is None:
        raise NotFound(f"No API route serves {raw_path}.")
    return match


def authorized_route(rt: Runtime, headers: Mapping[str, str], raw_path: str, method: str,
                     websocket: bool = False) -> RouteMatch:
    """The route that serves a request, after the checks every way to an upstream makes
    (``/api`` and forward-auth alike): anti-forgery (for a WebSocket upgrade, the exact
    ``Origin``, and a route that accepts WebSockets), a route for the canonical path, a method
    the route allows."""
    problem = (websocket_problem if websocket else csrf_problem)(headers, rt.settings.origin)
    if problem:
        raise CsrfRejected(f"Refused: {problem}.")
    match = route_for(rt, raw_path)
    if websocket and not match.route.websocket:
        raise Forbidden(f"{match.route.prefix} does not accept WebSockets.")
    if method not in match.route.methods:
        raise method_refused(match.route, method)
    return match


def forward(rt: Runtime, req: Request, match: RouteMatch, entry: AuditEntry
            ) -> tuple[int, list[tuple[str, str]], Relay]:
    """Send ``req`` to its route's upstream with the credential the route needs; the
    upstream's status, the headers the browser may see and its body as it arrives."""
    route = match.route
    session, credential = credentials_for(rt, req, route)
    entry.session = session
    url = f"{route.upstream}{match.remainder}"
    if req.query_string:
        url = f"{url}?{req.query_string.decode('latin-1')}"
    body = _body_chunks(req, route.max_body_bytes)
    peer = req.remote_addr or ""
    forwarding = Forwarding(
        peer=peer,
        peer_is_trusted_proxy=is_trusted(peer, rt.settings.trusted_proxies),
        public_origin=rt.settings.origin,
        request_id=current_request_id(),
    )
    method = req.method

    def send(credential: Credential | None) -> urllib3.BaseHTTPResponse:
        headers = upstream_headers(req.headers, route,
                                   credential_headers(rt, credential, method, url), forwarding)
        if body is not None and req.content_length is not None:
            headers["Content-Length"] = str(req.content_length)
        return rt.proxy.send(route, method, url, headers, body)

    upstream = send(credential)
    challenge = upstream.headers.get("WWW-Authenticate", "")
    if credential is not None and credential.dpop_jkt and body is None and \
            rt.proxy.remember_nonce(url, upstream, challenge):
        # RFC 9449 section 9: the resource server wants its nonce in the proof; once, bodiless.
        discard(upstream)
        upstream = send(credential)
        challenge = upstream.headers.get("WWW-Authenticate", "")
    if (session is not None and credential is not None and method in IDEMPOTENT
            and body is None and is_invalid_token(upstream.status, challenge)):
        discard(upstream)
        session, token = rt.tokens.refresh_after_rejection(session, credential.token,
                                                           route.resource)
        credential = Credential(token, session.tokens.dpop_jkt)
        entry.session = session
        upstream = send(credential)
    entry.upstream_answered()
    headers = downstream_headers(upstream.headers,
                                 credentialed=credential is not None or session is not None)
    return upstream.status, headers, Relay(upstream, entry)


def credential_headers(rt: Runtime, credential: Credential | None, method: str, url: str
                       ) -> dict[str, str]:
    """``Authorization: Bearer``, or ``Authorization: DPoP`` with a fresh proof of the key
    the token is bound to, for this method and upstream URL (RFC 9449 section 7.1)."""
    if credential is None:
        return {}
    if credential.dpop_jkt is None:
        return {"Authorization": f"Bearer {credential.token}"}
    key = rt.oidc.bound_key(credential.dpop_jkt)
    assert key is not None
    return {"Authorization": f"DPoP {credential.token}",
            "DPoP": dpop_proof(key, method, url, access_token=credential.token,
                               nonce=rt.proxy.nonce_for(url))}


def credentials_for(rt: Runtime, req: Request, route: Route
                    ) -> tuple[Session | None, Credential | None]:
    """The session (when the route's token type needs one) and the credential to attach."""
    session = None if route.token in ("none", "client") else session_for(rt, req)
    plan = credential_plan(route.token, None if route.token in ("none", "client")
                           else session is not None)
    if plan == "login_required":
        raise LoginRequired("You are not logged in, or your session has ended.")
    if plan == "none":
        return None, None
    if plan == "client":
        return None, rt.tokens.client_token(route.resource)
    assert session is not None
    missing = [s for s in route.scopes if s not in session.tokens.scope]
    if missing:
        raise InsufficientScope(f"This requires the scope {' '.join(missing)}.")
    unmet = unmet_claims(route.claims, session.claims)
    if unmet:
        raise InsufficientClaims(f"Your account lacks what this requires ({', '.join(unmet)}).")
    auth_time = float(session.claims.get("auth_time", session.created_at))
    if route.max_age is not None and not is_fresh(auth_time, route.max_age, time.time()):
        raise ReauthenticationRequired(
            f"This requires a login within the last {route.max_age} seconds.",
            extra={"login_url": reauthentication_url(_page_path(rt, req), route.max_age)})
    try:
        session, token = rt.tokens.access_token(session, route.resource)
    except TokenUnavailable as exc:
        raise TokenUnavailable(f"{route.prefix}: {exc.description}") from exc
    return session, Credential(token, session.tokens.dpop_jkt)


def _page_path(rt: Runtime, req: Request) -> str:
    """Where the fresh login returns: the page the SPA is on (its Referer, same origin only),
    else the root; never the /api call itself, which is no page."""
    referer = urlsplit(req.headers.get("Referer", ""))
    origin = urlsplit(rt.settings.origin)
    if (referer.scheme, referer.netloc) == (origin.scheme, origin.netloc) and \
            is_safe_return_url(referer.path or "/"):
        return (referer.path or "/") + (f"?{referer.query}" if referer.query else "")
    return "/"
