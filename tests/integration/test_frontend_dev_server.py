"""Development mode: the BFF relays the SPA from a running dev server (here a recording stand-in;
tests/e2e/test_example_app.py drives a real Vite dev server in a browser)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from bff.app import create_app
from bff.settings import build_settings, generate_secret_key
from tests.support import RedisServer, free_port

BIG = 3 * 1024 * 1024
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass
class DevServer:
    """Answers like a dev server and remembers every request it saw."""

    server: BaseWSGIServer
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        path = environ["PATH_INFO"]
        self.seen.append({"method": environ["REQUEST_METHOD"], "path": path,
                          "query": environ.get("QUERY_STRING", ""), "headers": headers})
        if path == "/moved":
            start("302 Found", [("Location", f"{self.origin}/elsewhere?x=1")])
            return [b""]
        if path == "/big.js":
            start("200 OK", [("Content-Type", "text/javascript"), ("Content-Length", str(BIG))])
            return (b"/" * (64 * 1024) for _ in range(BIG // (64 * 1024)))
        if path.endswith((".js", ".jsx")) or path.startswith("/@"):
            start("200 OK", [("Content-Type", "text/javascript"), ("ETag", '"v1"')])
            return [f"// module {path}".encode()]
        start("200 OK", [
            ("Content-Type", "text/html"),
            ("Set-Cookie", "dev=1; Path=/"),
            ("Content-Security-Policy", "default-src *"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Frame-Options", "ALLOWALL"),
        ])
        return [b"<!doctype html><script type=module src=/@vite/client></script>"]


def serve_in_thread(app: Any) -> BaseWSGIServer:
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def dev_server() -> Iterator[DevServer]:
    dev = DevServer(server=None)  # type: ignore[arg-type]
    dev.server = serve_in_thread(dev.app)
    try:
        yield dev
    finally:
        dev.server.shutdown()
        dev.server.server_close()


def bff_app(dev_origin: str, redis_url: str, port: int) -> Flask:
    settings = build_settings({
        "base_url": f"http://localhost:{port}", "issuer": "http://localhost:9",
        "client_id": "dev-test", "client_secret": "dev-test-secret",
        "secret_keys": generate_secret_key(), "redis_url": redis_url,
        "frontend_dev_server": dev_origin,
    })
    return create_app(settings)


@pytest.fixture(scope="module")
def bff_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def application(dev_server: DevServer, redis_server: RedisServer, bff_port: int) -> Flask:
    return bff_app(dev_server.origin, redis_server.url, bff_port)


@pytest.fixture(scope="module")
def bff_url(application: Flask, bff_port: int) -> Iterator[str]:
    port = bff_port
    server = make_server("127.0.0.1", port, application, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()
        server.server_close()


def last_seen(dev: DevServer, path: str) -> dict[str, Any]:
    return next(r for r in reversed(dev.seen) if r["path"] == path)


def test_pages_and_modules_come_from_the_dev_server(dev_server: DevServer, bff_url: str) -> None:
    page = requests.get(f"{bff_url}/orders/42", headers=PAGE)
    assert page.status_code == 200 and "/@vite/client" in page.text
    module = requests.get(f"{bff_url}/src/App.jsx?t=1700000000&import")
    assert module.status_code == 200 and module.text == "// module /src/App.jsx"
    assert last_seen(dev_server, "/src/App.jsx")["query"] == "t=1700000000&import"
    client = requests.get(f"{bff_url}/@vite/client")
    assert client.text == "// module /@vite/client"


def test_conditional_requests_pass_so_the_dev_server_can_answer_304(
        dev_server: DevServer, bff_url: str) -> None:
    requests.get(f"{bff_url}/src/main.jsx", headers={"If-None-Match": '"v1"'})
    assert last_seen(dev_server, "/src/main.jsx")["headers"]["If-None-Match"] == '"v1"'


def test_session_cookie_never_reaches_the_dev_server(dev_server: DevServer, bff_url: str) -> None:
    requests.get(f"{bff_url}/src/secret-probe.js", headers={
        "Cookie": "bff=the-session-id; bff_login=binding", "Authorization": "Bearer abc",
        "X-CSRF": "1", "X-Forwarded-For": "10.0.0.1", "Proxy-Authorization": "Basic eA==",
    })
    seen = last_seen(dev_server, "/src/secret-probe.js")["headers"]
    assert not {"Cookie", "Authorization", "X-Csrf", "X-Forwarded-For",
                "Proxy-Authorization"} & set(seen)
    assert seen["Host"] == dev_server.origin.removeprefix("http://")


def test_dev_server_cannot_set_cookies_or_loosen_the_policy(bff_url: str) -> None:
    page = requests.get(f"{bff_url}/", headers=PAGE)
    assert "Set-Cookie" not in page.headers
    assert "Access-Control-Allow-Origin" not in page.headers
    assert page.headers["X-Frame-Options"] == "DENY"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "default-src *" not in policy
    assert "frame-ancestors 'none'" in policy


def test_dev_policy_lets_the_hot_reload_client_reach_the_dev_server(
        dev_server: DevServer, bff_url: str) -> None:
    policy = requests.get(f"{bff_url}/", headers=PAGE).headers["Content-Security-Policy"]
    socket = dev_server.origin.replace("http://", "ws://")
    assert f"connect-src 'self' {socket}" in policy
    assert "script-src 'self' 'unsafe-inline'" in policy


def test_redirect_to_the_dev_servers_origin_stays_on_the_bff(bff_url: str) -> None:
    moved = requests.get(f"{bff_url}/moved", allow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"] == "/elsewhere?x=1"


def test_large_module_streams_through_whole(bff_url: str) -> None:
    response = requests.get(f"{bff_url}/big.js")
    assert response.status_code == 200 and len(response.content) == BIG


def test_bff_and_api_paths_never_reach_the_dev_server(dev_server: DevServer,
                                                      bff_url: str) -> None:
    before = len(dev_server.seen)
    assert requests.get(f"{bff_url}/bff/user", headers={"X-CSRF": "1"}).status_code == 401
    assert requests.get(f"{bff_url}/api/nothing", headers=PAGE).status_code in (403, 404)
    assert requests.get(f"{bff_url}/bff/nothing", headers=PAGE).status_code == 404
    assert requests.get(f"{bff_url}/healthz").json() == {"status": "ok"}
    assert len(dev_server.seen) == before


def test_only_reads_are_relayed(dev_server: DevServer, bff_url: str) -> None:
    before = len(dev_server.seen)
    assert requests.post(f"{bff_url}/src/main.jsx", data=b"x").status_code == 405
    assert len(dev_server.seen) == before


def test_websocket_upgrade_is_refused_with_advice(application: Flask,
                                                  dev_server: DevServer) -> None:
    # Through the app itself: Werkzeug's development server turns upgrades away before any app
    # sees them; gunicorn passes them on, and this is the answer there.
    before = len(dev_server.seen)
    response = application.test_client().get("/?token=abc", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Accept": "application/json"})
    assert response.status_code == 501
    assert "server.hmr.clientPort" in response.get_json()["error_description"]
    assert len(dev_server.seen) == before


def test_dev_server_down_is_a_502_that_says_what_to_start(redis_server: RedisServer) -> None:
    port = free_port()
    app = bff_app(f"http://127.0.0.1:{free_port()}", redis_server.url, port)
    response = app.test_client().get("/", headers={"Accept": "application/json"})
    assert response.status_code == 502
    assert "npm run dev" in response.get_json()["error_description"]
