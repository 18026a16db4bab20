"""The /api proxy's test harness: upstream HTTP servers that report exactly what reached them,
the stack (the reference authorization server, `bff serve` twice and gunicorn), and raw-socket
requests, since HTTP client libraries normalise ``..`` and re-encode."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from bff.authserver.passwords import hash_password
from bff.sessions import Session, SessionStore, TokenSet
from bff.settings import Settings
from tests.support import (
    BffProcess,
    free_port,
    log_in,
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
user_claims = ["sub", "name", "email", "roles"]

[[routes]]
prefix = "/api/role-only"
upstream = "{upstream}/role-only"
token = "user"
claims = {{ roles = ["admin"] }}

[[routes]]
prefix = "/api/fresh"
upstream = "{upstream}/fresh"
token = "user"
max_age = 60

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
                      sub: str = "planted-user", **claims: Any) -> tuple[str, str, Session]:
        """A logged-in session written straight into Redis: (cookie value, token, session)."""
        token = f"planted-{secrets.token_urlsafe(16)}"
        now = time.time()
        session_id, session = self.store.create(
            TokenSet(access_token=token, refresh_token=None,
                     access_expires_at=now + 3600, access_issued_at=now, scope=scopes),
            sub=sub, sid=None, claims={"sub": sub, **claims})
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


