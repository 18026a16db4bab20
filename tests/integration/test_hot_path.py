"""``/api`` and ``/bff/authz`` are served before Flask (``bff.hot_path``): what Flask's hooks did
for them must still happen, on every outcome. The BFF in process on a real Redis, a real
upstream over HTTP that answers with headers of its own."""

from __future__ import annotations

import http.server
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from bff.app import create_app
from bff.processes import free_port
from bff.sansio.refresh import TokenSet
from bff.settings import build_settings, generate_secret_key
from tests.support import XHR, RedisServer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.calls.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("X-Request-ID", "chosen-by-the-upstream")
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"ok")

    do_HEAD = do_GET  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.calls = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def make_app(redis_url: str, upstream: http.server.ThreadingHTTPServer) -> Flask:
    return create_app(build_settings({
        "base_url": "http://localhost:8000", "issuer": "http://127.0.0.1:9",
        "client_id": "c", "client_secret": "s", "secret_keys": generate_secret_key(),
        "redis_url": redis_url, "trusted_proxies": ["127.0.0.1/32"],
        "max_header_bytes": 4096,
        "routes": [{"prefix": "/api/echo", "methods": ["GET", "HEAD"],
                    "upstream": f"http://127.0.0.1:{upstream.server_address[1]}/echo"}]}))


@pytest.fixture(scope="module")
def app(redis_server: RedisServer, upstream: http.server.ThreadingHTTPServer) -> Flask:
    return make_app(redis_server.url, upstream)


@pytest.fixture
def cookie(app: Flask) -> str:
    now = time.time()
    tokens = TokenSet("opaque-access-token", "opaque-refresh-token", now + 3600, now,
                      ("openid",), {}, None)
    made, _ = app.extensions["bff"].store.create(tokens, sub="alice",
                                                 sid=secrets.token_hex(8), claims={})
    return made


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bff.audit"]


def test_an_answer_has_our_request_id_once_and_the_security_headers(
        app: Flask, cookie: str) -> None:
    client = app.test_client()
    client.set_cookie("bff", cookie)
    answer = client.get("/api/echo/1", headers={**XHR, "X-Request-ID": "from-the-browser"})
    assert answer.status_code == 200 and answer.data == b"ok"
    answer.close()
    assert answer.headers.getlist("X-Request-ID") == ["from-the-browser"]
    assert answer.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_head_is_answered_without_a_body(app: Flask, cookie: str) -> None:
    client = app.test_client()
    client.set_cookie("bff", cookie)
    answer = client.head("/api/echo/1", headers=XHR)
    assert answer.status_code == 200 and answer.data == b""
    answer.close()


def test_every_refused_request_writes_one_audit_line(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    answer = app.test_client().get("/api/echo/1", headers=XHR)
    assert answer.status_code == 401 and answer.json["error"] == "login_required"
    [line] = audit_lines(caplog)
    assert "route=/api/echo status=401 outcome=login_required" in line


def test_a_redis_outage_is_a_503_with_its_audit_line_and_nothing_sent(
        redis_server: RedisServer, upstream: http.server.ThreadingHTTPServer,
        caplog: pytest.LogCaptureFixture) -> None:
    down = make_app(f"redis://127.0.0.1:{free_port()}/0", upstream)
    client = down.test_client()
    client.set_cookie("bff", "a-session-cookie-value")
    calls = len(upstream.calls)  # type: ignore[attr-defined]
    caplog.set_level(logging.INFO)
    answer = client.get("/api/echo/1", headers=XHR)
    assert answer.status_code == 503
    assert answer.json["error"] == "session_store_unavailable"
    assert "Traceback" not in answer.get_data(as_text=True)
    [line] = audit_lines(caplog)
    assert "status=503 outcome=session_store_unavailable" in line
    assert len(upstream.calls) == calls  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/api/echo/1", "/bff/authz"])
def test_headers_past_the_bound_are_431_before_any_work(
        app: Flask, cookie: str, upstream: http.server.ThreadingHTTPServer, path: str) -> None:
    client = app.test_client()
    client.set_cookie("bff", cookie)
    calls = len(upstream.calls)  # type: ignore[attr-defined]
    answer = client.get(path, headers={**XHR, "X-Forwarded-Uri": "/api/echo/1",
                                       "X-Padding": "p" * 5000})
    assert answer.status_code == 431
    assert answer.json["error"] == "request_header_fields_too_large"
    assert "Authorization" not in answer.headers
    assert len(upstream.calls) == calls  # type: ignore[attr-defined]


def test_the_bare_api_prefix_is_a_json_404(app: Flask) -> None:
    answer = app.test_client().get("/api", headers=XHR)
    assert answer.status_code == 404 and answer.json["error"] == "not_found"


def test_authz_refuses_methods_no_route_can_have_with_allow(app: Flask) -> None:
    answer = app.test_client().open("/bff/authz", method="TRACE", headers=XHR)
    assert answer.status_code == 405
    assert "GET" in answer.headers["Allow"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_flask_served_405_names_the_allowed_methods(app: Flask) -> None:
    answer = app.test_client().delete("/bff/user", headers=XHR)
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    assert answer.json["error"] == "method_not_allowed"


def test_metrics_label_unknown_methods_as_other(app: Flask) -> None:
    labels = {"route": "/api/echo", "method": "other", "status": "405"}
    before = REGISTRY.get_sample_value("bff_requests_total", labels) or 0
    answer = app.test_client().open("/api/echo/1", method="PROPFIND", headers=XHR)
    assert answer.status_code == 405 and answer.headers["Allow"]
    assert REGISTRY.get_sample_value("bff_requests_total", labels) == before + 1
    assert REGISTRY.get_sample_value("bff_requests_total", {**labels, "method": "PROPFIND"}) \
        is None


def test_a_forward_auth_decision_is_one_audit_line_naming_the_original_request(
        app: Flask, cookie: str, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    client.set_cookie("bff", cookie)
    caplog.set_level(logging.INFO)
    answer = client.get("/bff/authz", headers={**XHR, "X-Forwarded-Method": "HEAD",
                                               "X-Forwarded-Uri": "/api/echo/7?q=secret"})
    assert answer.status_code == 200
    assert answer.headers["Authorization"] == "Bearer opaque-access-token"
    [line] = audit_lines(caplog)
    assert line.startswith("authz method=HEAD route=/api/echo status=200 outcome=ok")
    assert line.endswith("sub=alice")
    [record] = [r for r in caplog.records if r.name == "bff.audit"]
    assert record.path == "/api/echo/7"  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.name == "bff.access"]


def test_an_untrusted_caller_is_audited_as_itself_not_as_the_request_it_claims(
        redis_server: RedisServer, upstream: http.server.ThreadingHTTPServer,
        caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(redis_server.url, upstream).test_client()
    caplog.set_level(logging.INFO)
    answer = client.get("/bff/authz", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                        headers={**XHR, "X-Forwarded-Method": "DELETE",
                                 "X-Forwarded-Uri": "/api/echo/claimed"})
    assert answer.status_code == 403 and "Authorization" not in answer.headers
    [line] = audit_lines(caplog)
    assert line.startswith("authz method=GET route=- status=403 outcome=access_denied")
    [record] = [r for r in caplog.records if r.name == "bff.audit"]
    assert record.path == "/bff/authz"  # type: ignore[attr-defined]
