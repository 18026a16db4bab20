"""The /api proxy against real processes: `bff serve`, the reference authorization server
(`bff authserver`), and upstream HTTP servers started here that report exactly what reached them.

Traversal attempts go over a raw socket: HTTP client libraries normalise ``..`` and re-encode.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import re
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from bff.authserver.passwords import hash_password
from bff.sealing import Sealer
from bff.sessions import Session, SessionStore, TokenSet
from bff.settings import Settings, generate_secret_key, load_settings
from bff.store import connect
from tests.support import (
    XHR,
    BffProcess,
    RedisServer,
    free_port,
    log_in,
    start_bff,
    start_gunicorn,
)

MB = 1024 * 1024
PATTERN = bytes(range(256)) * 256  # 64 KiB of known bytes for large transfers
CLIENT_ID = "proxy-test-bff"
CLIENT_SECRET = "proxy-test-secret"
SCOPES = "openid profile email offline_access orders:read orders:write"
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]*")


# --- upstream servers -------------------------------------------------------------------------

@dataclass(frozen=True)
class Seen:
    """One request as it reached an upstream: raw target and header lines as sent."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body_bytes: int

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}


class RawHeadersHandler(WSGIRequestHandler):
    """Keeps the header lines exactly as they arrived (WSGI merges some and drops others)."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["test.raw_headers"] = tuple(self.headers.items())
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Quiet: the test output is not a request log."""


def pattern_stream(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = PATTERN[: min(len(PATTERN), total - sent)]
        sent += len(piece)
        yield piece


def pattern_digest(total: int) -> str:
    digest = hashlib.sha256()
    for piece in pattern_stream(total):
        digest.update(piece)
    return digest.hexdigest()


class EchoUpstream:
    """A WSGI upstream that records every request and answers by the path's last segment."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.rejected_tokens: set[str] = set()
        self.gates: dict[str, threading.Event] = {}
        self.finished: set[str] = set()
        self._lock = threading.Lock()
        self.server: BaseWSGIServer = make_server("127.0.0.1", free_port(), self, threaded=True,
                                                  request_handler=RawHeadersHandler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gate(self, name: str) -> threading.Event:
        with self._lock:
            return self.gates.setdefault(name, threading.Event())

    def seen_under(self, prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    def stop(self) -> None:
        for gate in list(self.gates.values()):
            gate.set()
        self.server.shutdown()
        self.server.server_close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        name = request.path.rstrip("/").rsplit("/", 1)[-1]
        handler = getattr(self, f"_on_{name}", self._echo)
        body_bytes = 0
        digest = hashlib.sha256()
        if name != "sse":
            while chunk := request.stream.read(1024 * 1024):
                body_bytes += len(chunk)
                digest.update(chunk)
        raw_path = environ["RAW_URI"].split("?", 1)[0]
        seen = Seen(request.method, raw_path, environ.get("QUERY_STRING", ""),
                    environ["test.raw_headers"], body_bytes)
        with self._lock:
            self.seen.append(seen)
        response: Response = handler(request, seen, digest.hexdigest())
        return response(environ, start_response)

    def _echo(self, request: Request, seen: Seen, digest: str) -> Response:
        return Response(json.dumps({
            "method": seen.method, "path": seen.path, "query": seen.query,
            "headers": seen.headers, "body_bytes": seen.body_bytes, "sha256": digest,
        }), content_type="application/json")

    def _on_download(self, request: Request, seen: Seen, digest: str) -> Response:
        size = int(request.args["size"])
        return Response(pattern_stream(size), content_type="application/octet-stream",
                        headers={"Content-Length": str(size)})

    def _on_truncated(self, request: Request, seen: Seen, digest: str) -> Response:
        """Promises a megabyte, sends 64 KiB, then the connection closes."""
        return Response([PATTERN], content_type="application/octet-stream",
                        headers={"Content-Length": str(MB)})

    def _on_sse(self, request: Request, seen: Seen, digest: str) -> Response:
        gate = self.gate(request.args["gate"])

        def events() -> Iterator[bytes]:
            yield b"event: first\ndata: hello\n\n"
            gate.wait(30)
            yield b"event: last\ndata: bye\n\n"
            with self._lock:
                self.finished.add(request.args["gate"])

        return Response(events(), content_type="text/event-stream",
                        headers={"Cache-Control": "no-cache"})

    def _on_slow(self, request: Request, seen: Seen, digest: str) -> Response:
        self.gate(request.args["gate"]).wait(30)
        return Response("finally", content_type="text/plain")

    def _on_protected(self, request: Request, seen: Seen, digest: str) -> Response:
        bearer = seen.header("Authorization")[0].removeprefix("Bearer ")
        if bearer in self.rejected_tokens or request.args.get("always"):
            return Response(
                json.dumps({"error": "invalid_token"}), status=401,
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return self._echo(request, seen, digest)

    def _on_cached(self, request: Request, seen: Seen, digest: str) -> Response:
        """Says a shared cache may keep the answer, as many APIs do."""
        return Response("{}", content_type="application/json", headers={
            "Cache-Control": "public, max-age=600", "Vary": "Accept",
            "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"})

    def _on_cookie(self, request: Request, seen: Seen, digest: str) -> Response:
        response = Response("upstream body", status=200, content_type="text/plain")
        response.headers.add("Set-Cookie", "stolen=1; Path=/")
        response.headers.add("Set-Cookie", "bff=forged; Path=/")
        response.headers["WWW-Authenticate"] = 'Basic realm="upstream"'
        response.headers["Connection"] = "X-Hop"
        response.headers["X-Hop"] = "must not cross"
        response.headers["Keep-Alive"] = "timeout=5"
        response.headers["Proxy-Authenticate"] = 'Basic realm="proxy"'
        response.headers["X-Kept"] = "yes"
        return response

    def _on_teapot(self, request: Request, seen: Seen, digest: str) -> Response:
        return Response("short and stout", status=418, content_type="text/plain",
                        headers={"X-Upstream": "1"})

    def _on_broken(self, request: Request, seen: Seen, digest: str) -> Response:
        return Response('{"upstream": "exploded"}', status=500, content_type="application/json")

    def _on_redirect(self, request: Request, seen: Seen, digest: str) -> Response:
        return Response("", status=302, headers={"Location": f"{self.url}/elsewhere/landing"})


class KeepAliveUpstream:
    """An HTTP/1.1 upstream that keeps connections open and says which client port asked."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = json.dumps({"client_port": self.client_address[1]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the stack: authorization server, BFF, sessions -------------------------------------------

def authserver_config(bff_port: int) -> str:
    return f"""
access_token_lifetime = 900
refresh_token_lifetime = 3600

[login]
max_failures_per_address = 1000

[[users]]
username = "alice"
password_hash = "{hash_password('wonderland')}"
name = "Alice Liddell"
email = "alice@example.com"
scopes = ["orders:read", "orders:write"]

[[clients]]
client_id = "{CLIENT_ID}"
client_secret_hash = "{hash_password(CLIENT_SECRET)}"
redirect_uris = ["http://localhost:{bff_port}/bff/callback"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["openid", "profile", "email", "offline_access", "orders:read", "orders:write"]
audience = "demo-api"
"""


def routes_config(upstream: str, pooled: str, closed_port: int) -> str:
    return f"""
[[routes]]
prefix = "/api/orders"
upstream = "{upstream}/orders"
methods = ["GET", "POST", "PUT"]
token = "user"
scopes = ["orders:read"]
request_headers = ["X-Custom"]

[[routes]]
prefix = "/api/orders/admin"
upstream = "{upstream}/admin"
methods = ["GET"]
token = "user"
scopes = ["orders:write"]

[[routes]]
prefix = "/api/files"
upstream = "{upstream}/files"
methods = ["GET", "HEAD", "POST", "PUT"]
token = "user"
max_body_bytes = {300 * MB}

[[routes]]
prefix = "/api/small"
upstream = "{upstream}/small"
methods = ["POST"]
token = "none"
max_body_bytes = 1024

[[routes]]
prefix = "/api/slow"
upstream = "{upstream}/slow"
token = "none"
connect_timeout = 1.0
read_timeout = 0.5

[[routes]]
prefix = "/api/quick"
upstream = "{upstream}/quick"
token = "none"
read_timeout = 3.0

[[routes]]
prefix = "/api/down"
upstream = "http://127.0.0.1:{closed_port}/down"
token = "none"

[[routes]]
prefix = "/api/public"
upstream = "{upstream}/public"
methods = ["GET", "POST"]
token = "none"
headers = {{ X-Tenant = "acme" }}

[[routes]]
prefix = "/api/service"
upstream = "{upstream}/service"
token = "client"

[[routes]]
prefix = "/api/maybe"
upstream = "{upstream}/maybe"
token = "user-or-none"

[[routes]]
prefix = "/api/either"
upstream = "{upstream}/either"
token = "user-or-client"

[[routes]]
prefix = "/api/admin-only"
upstream = "{upstream}/admin-only"
token = "user"
scopes = ["orders:admin"]

[[routes]]
prefix = "/api/pooled"
upstream = "{pooled}/pooled"
token = "none"
"""


@dataclass
class Stack:
    upstream: EchoUpstream
    pooled: KeepAliveUpstream
    authserver: BffProcess
    bff: BffProcess
    trusting_bff: BffProcess
    gunicorn: BffProcess
    store: SessionStore
    settings: Settings

    @property
    def url(self) -> str:
        return self.bff.url

    def plant_session(self, scopes: tuple[str, ...] = ("openid", "orders:read"),
                      sub: str = "planted-user") -> tuple[str, str, Session]:
        """A logged-in session written straight into Redis: (cookie value, token, session)."""
        token = f"planted-{secrets.token_urlsafe(16)}"
        now = time.time()
        session_id, session = self.store.create(
            TokenSet(access_token=token, refresh_token=None,
                     access_expires_at=now + 3600, access_issued_at=now, scope=scopes),
            sub=sub, sid=None, claims={"sub": sub})
        return session_id, token, session

    def session_of(self, browser: requests.Session) -> Session:
        session = self.store.load(browser.cookies["bff"], slide=False)
        assert session is not None
        return session

    def logged_in_browser(self) -> requests.Session:
        browser = requests.Session()
        landing = log_in(browser, self.url, "alice", "wonderland", return_url="/healthz")
        assert landing.status_code == 200, landing.text[:300]
        return browser


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="bff-test-proxy-"))
    upstream, pooled = EchoUpstream(), KeepAliveUpstream()
    bff_port, trusting_port, gunicorn_port, auth_port = (free_port() for _ in range(4))
    (work / "authserver.toml").write_text(authserver_config(bff_port))
    config = work / "bff.toml"
    config.write_text(routes_config(upstream.url, f"http://127.0.0.1:{pooled.port}",
                                    free_port()))
    env = {
        "BFF_BASE_URL": f"http://localhost:{bff_port}",
        "BFF_ISSUER": f"http://localhost:{auth_port}",
        "BFF_CLIENT_ID": CLIENT_ID,
        "BFF_CLIENT_SECRET": CLIENT_SECRET,
        "BFF_SCOPES": SCOPES,
        "BFF_REDIS_URL": redis_server.url,
        "BFF_SECRET_KEYS": generate_secret_key(),
    }
    started: list[BffProcess] = []
    try:
        started.append(start_bff(
            ["authserver", "--config", str(work / "authserver.toml"), "--port", str(auth_port)],
            auth_port, env={"BFF_AUTHSERVER_ISSUER": env["BFF_ISSUER"],
                            "BFF_AUTHSERVER_REDIS_URL": redis_server.url,
                            "BFF_AUTHSERVER_KEY_DIR": str(work / "keys")}))
        started.append(start_bff(["serve", "--config", str(config), "--port", str(bff_port)],
                                 bff_port, env=env))
        started.append(start_bff(
            ["serve", "--config", str(config), "--port", str(trusting_port)], trusting_port,
            env={**env, "BFF_BASE_URL": f"http://localhost:{trusting_port}",
                 "BFF_TRUSTED_PROXIES": "127.0.0.1/32"}))
        started.append(start_gunicorn(gunicorn_port, {
            **env, "BFF_CONFIG": str(config),
            "BFF_BASE_URL": f"http://localhost:{gunicorn_port}"}))
        settings = load_settings(config, environ=env)
        store = SessionStore(connect(redis_server.url), Sealer(settings.secret_keys), settings)
        yield Stack(upstream, pooled, *started, store=store, settings=settings)
    finally:
        for process in reversed(started):
            process.stop()
        upstream.stop()
        pooled.stop()


@pytest.fixture(params=["bff serve", "gunicorn"])
def front(request: pytest.FixtureRequest, stack: Stack) -> BffProcess:
    """The BFF as developers run it and as production runs it."""
    return stack.bff if request.param == "bff serve" else stack.gunicorn


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(port: int, target: str, *, method: str = "GET",
                headers: Iterable[str] = ("X-CSRF: 1",), body: bytes = b"") -> RawResponse:
    """Send exactly these bytes as the request line and headers; read to the end."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: localhost:{port}", "Connection: close",
             *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return RawResponse(int(status_line.split(" ", 2)[1]),
                       {k.lower(): v for k, v in fields.items()}, payload)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


def reset_peak_rss(pid: int) -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) so it measures only what follows."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_kib(pid, "VmRSS")


# --- routing ----------------------------------------------------------------------------------

def test_remainder_is_appended_to_the_upstream_path_and_longest_prefix_wins(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session(scopes=("openid", "orders:read", "orders:write"))
    jar = {"bff": cookie}
    one = requests.get(f"{stack.url}/api/orders/42/items", headers=XHR, cookies=jar)
    assert one.status_code == 200 and one.json()["path"] == "/orders/42/items"
    root = requests.get(f"{stack.url}/api/orders", headers=XHR, cookies=jar)
    assert root.json()["path"] == "/orders"
    admin = requests.get(f"{stack.url}/api/orders/admin/7", headers=XHR, cookies=jar)
    assert admin.json()["path"] == "/admin/7"


def test_query_string_is_passed_through_unchanged(stack: Stack) -> None:
    query = "b=2&a=1&a=&c=%2F%20x+y&d&e=%E2%82%AC&f=a%3Db"
    response = requests.get(f"{stack.url}/api/public/q?{query}", headers=XHR)
    assert response.json()["query"] == query


def test_prefix_matches_whole_segments_only(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/ordersevil", headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert len(stack.upstream.seen) == before


def test_an_unlisted_path_is_404(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/nothing/here", headers=XHR)
    assert response.status_code == 404
    assert set(response.json()) == {"error", "error_description"}


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "TRACE", "PROPFIND", "CONNECT"])
def test_a_method_outside_the_route_allow_list_is_405_with_allow(stack: Stack, front: BffProcess,
                                                                  method: str) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = raw_request(front.port, "/api/orders/1", method=method,
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 405
    assert response.headers["allow"] == "GET, POST, PUT"
    assert response.json()["error"] == "method_not_allowed"
    assert len(stack.upstream.seen) == before


def test_an_unknown_method_on_an_unlisted_path_is_404(stack: Stack, front: BffProcess) -> None:
    response = raw_request(front.port, "/api/nothing/here", method="TRACE")
    assert response.status == 404
    assert response.json()["error"] == "not_found"


def test_a_request_without_the_csrf_header_never_reaches_the_upstream(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/orders/1", cookies={"bff": cookie})
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_rejected"
    assert len(stack.upstream.seen) == before


# --- paths ------------------------------------------------------------------------------------

TRAVERSALS = [
    "/api/orders/../admin/steal",
    "/api/orders/./../admin/steal",
    "/api/orders/%2e%2e/admin/steal",
    "/api/orders/%2e%2e%2fadmin/steal",
    "/api/orders/%2E%2E%2Fadmin/steal",
    "/api/orders/x/%252e%252e/%252e%252e/admin/steal",
    "/api/orders/x%252fsteal",
    "/api/orders/..%5cadmin/steal",
    "/api/orders/..\\admin/steal",
    "/api/orders//admin/steal",
    "/api/orders/x//steal",
    "/api/orders/steal%00.json",
    "/api/orders/steal\x00.json",
    "/api/orders/..;/admin/steal",
    "/api/orders/%c0%ae%c0%ae/admin/steal",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_refused_before_the_upstream(
        stack: Stack, front: BffProcess, target: str) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 400, response.body
    if response.headers.get("content-type") == "application/json":
        assert response.json()["error"] == "invalid_path"
    else:  # the HTTP server refused the request line itself (gunicorn does for a raw NUL)
        assert "\x00" in target
    assert len(stack.upstream.seen) == before
    assert not [s for s in stack.upstream.seen if "steal" in s.path]


def test_encoded_dots_inside_a_name_are_not_traversal(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    response = raw_request(front.port, "/api/orders/report%2Ecsv",
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 200
    assert response.json()["path"] == "/orders/report.csv"


@pytest.mark.parametrize("target", [
    "/api/orders/%61dmin/users", "/api/orders/adm%69n/users", "/api/%6Frders/%61dmin/users",
])
def test_escaping_the_stricter_admin_route_by_encoding_a_letter_meets_the_admin_rules(
        stack: Stack, front: BffProcess, target: str) -> None:
    """The review's attack: bob (orders:read only) asked for /api/orders/%61dmin/users and got
    it forwarded under the looser /api/orders route; upstreams that decode %61 serve admin."""
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 403, response.body
    assert response.json()["error"] == "insufficient_scope"
    assert len(stack.upstream.seen) == before


@pytest.mark.parametrize(("method", "target"), [
    ("PUT", "/api/orders/admin;x/users"), ("GET", "/api/orders/admin;jsessionid=1/users"),
    ("GET", "/api/orders/ADMIN/users"), ("GET", "/api/orders/%41dmin/users"),
    ("GET", "/api/orders/admin%3Bx/users"), ("GET", "/api/orders/%2561dmin/users"),
])
def test_ambiguous_forms_of_the_admin_path_are_refused_before_any_upstream(
        stack: Stack, front: BffProcess, method: str, target: str) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read", "orders:write"))
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, method=method,
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}", "Content-Length: 0"))
    assert response.status == 400, response.body
    assert response.json()["error"] == "invalid_path"
    assert len(stack.upstream.seen) == before


# --- headers ----------------------------------------------------------------------------------

# The review's list: headers upstreams commonly trust as identity, method or URL overrides.
TRUSTED_BY_UPSTREAMS = (
    "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method",
    "X-Method-Override", "X-Authenticated-User", "X-Auth-User", "X-WEBAUTH-USER",
    "X-MS-CLIENT-PRINCIPAL-NAME", "X-Amzn-Oidc-Identity", "Cf-Access-Authenticated-User-Email",
    "X-Client-Cert", "X-SSL-Client-S-DN", "X-Api-Key", "X-Auth-Token",
)


def test_upstream_gets_the_bearer_and_none_of_the_browser_credentials_or_hop_headers(
        stack: Stack, front: BffProcess) -> None:
    cookie, token, _ = stack.plant_session()
    response = raw_request(front.port, "/api/orders/headers", headers=(
        "X-CSRF: 1",
        f"Cookie: bff={cookie}; theme=dark",
        "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==",
        "Proxy-Authorization: Basic cHJveHk6cHJveHk=",
        "Connection: close, X-Secret-Hop",
        "X-Secret-Hop: 1",
        "Keep-Alive: timeout=300",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Upgrade: h2c",
        "Proxy-Connection: keep-alive",
        "Accept: application/json",
        "X-Custom: kept",
        *(f"{name}: admin" for name in TRUSTED_BY_UPSTREAMS),
    ))
    assert response.status == 200
    seen = stack.upstream.seen_under("/orders/headers")[-1]
    assert not {name.lower() for name in TRUSTED_BY_UPSTREAMS} & seen.names()
    assert seen.header("Authorization") == [f"Bearer {token}"]
    assert seen.header("X-Custom") == ["kept"]
    assert seen.header("Accept") == ["application/json"]
    for name in ("cookie", "proxy-authorization", "x-csrf", "x-secret-hop", "keep-alive", "te",
                 "trailer", "upgrade", "proxy-connection"):
        assert name not in seen.names(), name
    assert "X-Secret-Hop" not in " ".join(seen.header("Connection"))
    assert cookie not in json.dumps(seen.headers)


def test_spoofed_x_forwarded_for_is_replaced(stack: Stack, front: BffProcess) -> None:
    raw_request(front.port, "/api/public/forwarded", headers=(
        "X-CSRF: 1", "X-Forwarded-For: 6.6.6.6", "X_Forwarded_For: 7.7.7.7",
        "Forwarded: for=6.6.6.6;proto=https", "X-Forwarded-Host: evil.example",
        "X-Real-IP: 6.6.6.6", "X-Forwarded-User: admin", "X-Request-ID: abc-123"))
    seen = stack.upstream.seen_under("/public/forwarded")[-1]
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header("X-Forwarded-Host") == [f"localhost:{front.port}"]
    assert seen.header("X-Forwarded-Proto") == ["http"]
    assert seen.header("Forwarded") == [
        f'for=127.0.0.1;host="localhost:{front.port}";proto=http']
    assert seen.header("X-Request-ID") == ["abc-123"]
    assert not {"x-real-ip", "x-forwarded-user", "x_forwarded_for"} & seen.names()
    assert "6.6.6.6" not in json.dumps(seen.headers)
    assert "7.7.7.7" not in json.dumps(seen.headers)


def test_forwarding_headers_from_a_trusted_proxy_are_extended(stack: Stack) -> None:
    raw_request(stack.trusting_bff.port, "/api/public/trusted", headers=(
        "X-CSRF: 1", "X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9"))
    seen = stack.upstream.seen_under("/public/trusted")[-1]
    assert seen.header("X-Forwarded-For") == ["203.0.113.9, 127.0.0.1"]
    assert seen.header("Forwarded") == [
        f'for=203.0.113.9, for=127.0.0.1;host="localhost:{stack.trusting_bff.port}";proto=http']


def test_route_identity_headers_cannot_be_smuggled_in_any_spelling(
        stack: Stack, front: BffProcess) -> None:
    raw_request(front.port, "/api/public/tenant", headers=(
        "X-CSRF: 1", "X-Tenant: evil", "x-tenant: evil2", "X_Tenant: evil3", "X-User: root"))
    seen = stack.upstream.seen_under("/public/tenant")[-1]
    tenant = [(k, v) for k, v in seen.headers if k.lower().replace("_", "-") == "x-tenant"]
    assert tenant == [("X-Tenant", "acme")]
    assert "x-user" not in seen.names()


def test_upstream_set_cookie_auth_dialogs_and_hop_headers_are_dropped(
        stack: Stack, front: BffProcess) -> None:
    response = requests.get(f"{front.url}/api/public/cookie", headers=XHR)
    assert response.status_code == 200
    assert response.text == "upstream body"
    assert response.headers["X-Kept"] == "yes"
    for name in ("Set-Cookie", "WWW-Authenticate", "X-Hop", "Keep-Alive", "Proxy-Authenticate"):
        assert name not in response.headers, name
    assert not response.cookies


def test_a_users_answer_is_never_storable_by_a_shared_cache(stack: Stack, front: BffProcess
                                                            ) -> None:
    """A CDN in front of the BFF must not serve one user's data to another: the cookie chose it."""
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{front.url}/api/orders/cached", headers=XHR,
                            cookies={"bff": cookie})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=600"
    assert response.headers["Vary"] == "Accept, Cookie"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    plain = requests.get(f"{front.url}/api/orders/42", headers=XHR, cookies={"bff": cookie})
    assert plain.headers["Cache-Control"] == "no-store"


def test_a_tokenless_answer_keeps_the_upstreams_caching(stack: Stack, front: BffProcess) -> None:
    response = requests.get(f"{front.url}/api/public/cached", headers=XHR)
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_bff_endpoints_are_never_stored(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{front.url}/bff/user", headers=XHR, cookies={"bff": cookie})
    assert response.headers["Cache-Control"] == "no-store"


def test_a_connection_the_upstream_closes_is_not_reused(stack: Stack) -> None:
    """The upstream sends ``Connection: X-Hop`` then ``Connection: close``; reusing that
    connection would send the next request into a socket the upstream is closing."""
    assert requests.get(f"{stack.url}/api/quick/cookie", headers=XHR).status_code == 200
    for n in range(3):
        response = requests.get(f"{stack.url}/api/quick/after-{n}", headers=XHR)
        assert response.status_code == 200, response.text


def test_upstream_redirects_go_to_the_browser_and_are_not_followed(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{stack.url}/api/public/redirect", headers=XHR,
                            cookies={"bff": cookie}, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/elsewhere/landing")
    assert not stack.upstream.seen_under("/elsewhere")


# --- tokens -----------------------------------------------------------------------------------

def test_a_user_route_without_a_session_is_401_login_required(stack: Stack) -> None:
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/orders/1", headers=XHR)
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert len(stack.upstream.seen) == before


def test_a_session_without_the_route_scope_is_403(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/admin-only/x", headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert len(stack.upstream.seen) == before


def test_a_none_route_carries_no_token_even_with_a_session(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    response = requests.get(f"{stack.url}/api/public/none", cookies={"bff": cookie},
                            headers={**XHR, "Authorization": "Bearer from-the-browser"})
    assert response.status_code == 200
    seen = stack.upstream.seen_under("/public/none")[-1]
    assert "authorization" not in seen.names()
    assert token not in json.dumps(seen.headers)


def test_a_client_route_carries_a_client_credentials_token(stack: Stack) -> None:
    cookie, user_token, _ = stack.plant_session()
    first = requests.get(f"{stack.url}/api/service/a", headers=XHR, cookies={"bff": cookie})
    second = requests.get(f"{stack.url}/api/service/b", headers=XHR)
    assert first.status_code == second.status_code == 200
    bearers = [s.header("Authorization")[0].removeprefix("Bearer ")
               for s in stack.upstream.seen_under("/service/")]
    assert bearers[0] == bearers[1] != user_token
    keys = jwt.PyJWKClient(f"{stack.settings.issuer}/jwks")
    claims = jwt.decode(bearers[0], keys.get_signing_key_from_jwt(bearers[0]).key,
                        algorithms=["RS256", "ES256"], audience="demo-api",
                        issuer=stack.settings.issuer)
    assert claims["client_id"] == CLIENT_ID
    assert claims["sub"] != "planted-user"


def test_user_or_none_and_user_or_client_routes(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    requests.get(f"{stack.url}/api/maybe/anonymous", headers=XHR)
    requests.get(f"{stack.url}/api/maybe/user", headers=XHR, cookies={"bff": cookie})
    requests.get(f"{stack.url}/api/either/anonymous", headers=XHR)
    requests.get(f"{stack.url}/api/either/user", headers=XHR, cookies={"bff": cookie})
    up = stack.upstream
    assert "authorization" not in up.seen_under("/maybe/anonymous")[-1].names()
    assert up.seen_under("/maybe/user")[-1].header("Authorization") == [f"Bearer {token}"]
    client_bearer = up.seen_under("/either/anonymous")[-1].header("Authorization")[0]
    assert JWT_SHAPE.fullmatch(client_bearer.removeprefix("Bearer "))
    assert up.seen_under("/either/user")[-1].header("Authorization") == [f"Bearer {token}"]


def test_a_token_due_for_refresh_is_refreshed_before_it_is_sent(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    session = stack.session_of(browser)
    old = session.tokens
    now = time.time()
    due = TokenSet(access_token=old.access_token, refresh_token=old.refresh_token,
                   access_expires_at=now + 5,
                   access_issued_at=now - 895, scope=old.scope)
    assert stack.store.replace_tokens(session, due) is not None
    response = browser.get(f"{stack.url}/api/orders/fresh", headers=XHR)
    assert response.status_code == 200
    sent = stack.upstream.seen_under("/orders/fresh")[-1].header("Authorization")
    refreshed = stack.session_of(browser).tokens
    assert refreshed.access_token != old.access_token
    assert sent == [f"Bearer {refreshed.access_token}"]


def test_upstream_401_invalid_token_refreshes_and_retries_a_get_once(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    stack.upstream.rejected_tokens.add(before.tokens.access_token)
    response = browser.get(f"{stack.url}/api/orders/retry-get/protected", headers=XHR)
    assert response.status_code == 200
    after = stack.session_of(browser)
    bearers = [s.header("Authorization")[0]
               for s in stack.upstream.seen_under("/orders/retry-get/")]
    assert bearers == [f"Bearer {before.tokens.access_token}",
                       f"Bearer {after.tokens.access_token}"]
    assert after.tokens.access_token != before.tokens.access_token
    assert after.version == before.version + 1


def test_a_get_is_retried_only_once_when_the_new_token_is_refused_too(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    response = browser.get(f"{stack.url}/api/orders/retry-twice/protected?always=1",
                           headers=XHR)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}
    assert len(stack.upstream.seen_under("/orders/retry-twice/")) == 2
    assert stack.session_of(browser).version == before.version + 1


def test_upstream_401_on_a_post_is_passed_through_without_retry(stack: Stack) -> None:
    browser = stack.logged_in_browser()
    before = stack.session_of(browser)
    stack.upstream.rejected_tokens.add(before.tokens.access_token)
    response = browser.post(f"{stack.url}/api/orders/retry-post/protected", headers=XHR,
                            json={"item": "tea"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}
    assert "WWW-Authenticate" not in response.headers
    seen = stack.upstream.seen_under("/orders/retry-post/")
    assert len(seen) == 1 and seen[0].body_bytes == len(b'{"item": "tea"}')
    after = stack.session_of(browser)
    assert after.version == before.version
    assert after.tokens.access_token == before.tokens.access_token


# --- errors -----------------------------------------------------------------------------------

def test_upstream_status_codes_and_bodies_pass_through_untouched(stack: Stack) -> None:
    teapot = requests.get(f"{stack.url}/api/public/teapot", headers=XHR)
    assert teapot.status_code == 418
    assert teapot.text == "short and stout"
    assert teapot.headers["X-Upstream"] == "1"
    broken = requests.post(f"{stack.url}/api/public/broken", headers=XHR, data=b"x")
    assert broken.status_code == 500
    assert broken.json() == {"upstream": "exploded"}


def test_an_unreachable_upstream_is_502_json(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/down/x", headers=XHR)
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unavailable"
    assert set(response.json()) == {"error", "error_description"}


def test_a_slow_upstream_is_504_within_the_read_timeout(stack: Stack, front: BffProcess) -> None:
    name = secrets.token_hex(4)
    gate = stack.upstream.gate(name)
    try:
        started = time.monotonic()
        response = requests.get(f"{front.url}/api/slow/slow?gate={name}", headers=XHR,
                                timeout=20)
        elapsed = time.monotonic() - started
    finally:
        gate.set()
    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"
    assert elapsed < 5, f"504 took {elapsed:.1f}s for a 0.5s read timeout"


def test_a_body_over_the_route_limit_is_413(stack: Stack, front: BffProcess) -> None:
    before = len(stack.upstream.seen_under("/small"))
    declared = requests.post(f"{front.url}/api/small/x", headers=XHR, data=b"a" * 2048)
    assert declared.status_code == 413
    assert declared.json()["error"] == "payload_too_large"
    assert len(stack.upstream.seen_under("/small")) == before
    chunked = requests.post(f"{front.url}/api/small/x", headers=XHR,
                            data=iter([b"a" * 1000, b"b" * 1000, b"c" * 1000]))
    assert chunked.status_code == 413
    assert chunked.json()["error"] == "payload_too_large"
    within = requests.post(f"{front.url}/api/small/x", headers=XHR, data=b"a" * 1024)
    assert within.status_code == 200 and within.json()["body_bytes"] == 1024


# --- streaming --------------------------------------------------------------------------------

def test_a_200_mb_download_streams_with_flat_bff_memory(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    url = f"{stack.url}/api/files/download"
    warm = requests.get(url, params={"size": 4 * MB}, headers=XHR, cookies={"bff": cookie})
    assert len(warm.content) == 4 * MB
    pid = stack.bff.process.pid
    rss_before = reset_peak_rss(pid)
    size = 200 * MB
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, params={"size": size}, headers=XHR, cookies={"bff": cookie},
                      stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(chunk_size=MB):
            received += len(chunk)
            digest.update(chunk)
    growth_mib = (rss_kib(pid, "VmHWM") - rss_before) / 1024
    assert received == size
    assert digest.hexdigest() == pattern_digest(size)
    assert growth_mib < 30, f"BFF peak memory grew {growth_mib:.1f} MiB"


def upload(port: int, path: str, cookie: str, size: int, *, chunked: bool) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("PUT", path)
        connection.putheader("X-CSRF", "1")
        connection.putheader("Cookie", f"bff={cookie}")
        connection.putheader("Content-Type", "application/octet-stream")
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            connection.putheader("Content-Length", str(size))
        connection.endheaders()
        for piece in pattern_stream(size):
            connection.send(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 200, response.read()[:300]
        return json.loads(response.read())
    finally:
        connection.close()


def test_a_100_mb_upload_streams_with_flat_bff_memory(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    upload(stack.bff.port, "/api/files/warm-upload", cookie, 4 * MB, chunked=False)
    pid = stack.bff.process.pid
    rss_before = reset_peak_rss(pid)
    size = 100 * MB
    echoed = upload(stack.bff.port, "/api/files/upload", cookie, size, chunked=False)
    growth_mib = (rss_kib(pid, "VmHWM") - rss_before) / 1024
    assert echoed["body_bytes"] == size
    assert echoed["sha256"] == pattern_digest(size)
    sent = stack.upstream.seen_under("/files/upload")[-1]
    assert sent.header("Content-Length") == [str(size)]
    assert growth_mib < 30, f"BFF peak memory grew {growth_mib:.1f} MiB"


def test_a_chunked_upload_streams_through(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    size = 20 * MB + 123
    echoed = upload(front.port, "/api/files/chunked", cookie, size, chunked=True)
    assert echoed["body_bytes"] == size
    assert echoed["sha256"] == pattern_digest(size)


def test_server_sent_events_arrive_before_the_upstream_finishes(
        stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    name = secrets.token_hex(4)
    gate = stack.upstream.gate(name)
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=15)
    try:
        connection.request("GET", f"/api/files/sse?gate={name}",
                           headers={"X-CSRF": "1", "Cookie": f"bff={cookie}",
                                    "Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        first = b""
        while b"\n\n" not in first:
            first += response.read1(1024)
        assert first == b"event: first\ndata: hello\n\n"
        assert name not in stack.upstream.finished
        gate.set()
        assert response.read() == b"event: last\ndata: bye\n\n"
    finally:
        gate.set()
        connection.close()


def audit_lines(process: BffProcess, marker: str) -> list[str]:
    """The audit lines holding ``marker``, waiting briefly: they are written at body end."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in process.log().splitlines()
                 if "bff.audit" in line and marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_an_upstream_that_breaks_mid_body_cuts_the_browser_response(stack: Stack) -> None:
    cookie, _, session = stack.plant_session(sub="truncated-reader")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{stack.url}/api/files/truncated", headers=XHR, cookies={"bff": cookie})
    [line] = audit_lines(stack.bff, "sub=truncated-reader")
    assert "status=200 outcome=upstream_broke" in line


def test_a_download_the_browser_abandons_stops_and_is_audited(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(sub="impatient-reader")
    size = 1024 * MB
    with requests.get(f"{stack.url}/api/files/download", params={"size": size}, headers=XHR,
                      cookies={"bff": cookie}, stream=True) as response:
        assert len(next(response.iter_content(chunk_size=MB))) > 0
    [line] = audit_lines(stack.bff, "sub=impatient-reader")
    assert "status=200 outcome=client_gone" in line
    sent = int(re.search(r"bytes_out=(\d+)", line).group(1))  # type: ignore[union-attr]
    assert sent < size / 4
    assert requests.get(f"{stack.url}/api/files/after-abandon", headers=XHR,
                        cookies={"bff": cookie}).status_code == 200


def test_a_head_request_returns_headers_only(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.head(f"{stack.url}/api/files/download", params={"size": 12345},
                             headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "12345"
    assert response.content == b""


def test_upstream_connections_are_pooled_and_kept_alive(stack: Stack) -> None:
    ports = {requests.get(f"{stack.url}/api/pooled/x", headers=XHR).json()["client_port"]
             for _ in range(5)}
    assert len(ports) == 1


# --- audit ------------------------------------------------------------------------------------

def test_each_proxied_request_is_audited_without_tokens_or_cookies(stack: Stack) -> None:
    cookie, token, session = stack.plant_session(sub="audited-user")
    requests.get(f"{stack.url}/api/orders/audited", cookies={"bff": cookie},
                 headers={**XHR, "Authorization": "Bearer browser-secret-value"})
    requests.get(f"{stack.url}/api/ordersevil", cookies={"bff": cookie}, headers=XHR)
    deadline = time.monotonic() + 5
    while "sub=audited-user" not in stack.bff.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = stack.bff.log()
    lines = [line for line in log.splitlines() if "bff.audit" in line]
    ok = [line for line in lines if "sub=audited-user" in line]
    assert len(ok) == 1
    assert re.search(r"proxy method=GET route=/api/orders status=200 outcome=ok "
                     r"duration_ms=[\d.]+ upstream_ms=[\d.]+ bytes_out=\d+ "
                     rf"session={session.handle[:16]} sub=audited-user$", ok[0]), ok[0]
    assert any("route=- status=404 outcome=not_found" in line for line in lines)
    assert cookie not in log
    assert token not in log
    assert "browser-secret-value" not in log
    assert session.handle not in log
    assert not JWT_SHAPE.search(log)


@pytest.mark.parametrize("separator", ["%0a", "%0d%0a", "%0d", "%e2%80%a8", "%c2%85"])
def test_a_forged_log_line_in_the_path_stays_inside_the_line_that_carries_it(
        stack: Stack, front: BffProcess, separator: str) -> None:
    """The review's attack on the text log: a path that decodes to a newline followed by a
    genuine-looking record, sent over a raw socket to the dev server and to gunicorn."""
    marker = secrets.token_hex(6)
    forged = f"2026-11-30%2013:30:00,000%20INFO%20bff.endpoints%20[{marker}]%20login%20sub=admin"
    raw_request(front.port, f"/x{separator}{forged}")
    deadline = time.monotonic() + 10
    while marker not in front.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in front.log().splitlines() if marker in line]
    assert lines, "the request was not logged at all"
    assert not [line for line in lines if line.startswith("2026-11-30 13:30:00,000")], lines
