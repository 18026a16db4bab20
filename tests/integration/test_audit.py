"""`bff audit` against real deployments: the demo (http), the BFF under gunicorn with TLS,
and a deliberately misconfigured BFF that it must fail check by check."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import make_server

from bff.audit import AuditOptions, Auditor, Check, run_audit
from tests.e2e.stacks import Stack, start_https_stack
from tests.support import ROOT, DemoStack, RedisServer, free_port

FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def failures(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if c.status == "FAIL"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bff.cli", "audit", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


# -- a BFF that gets everything wrong ------------------------------------------------------

def broken_provider(port: int) -> Flask:
    """A provider that offers only plain PKCE and logs anyone in."""
    app = Flask("broken_provider")
    issuer = f"http://localhost:{port}"

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(issuer=issuer, authorization_endpoint=f"{issuer}/authorize",
                       code_challenge_methods_supported=["plain"])

    @app.get("/authorize")
    def form() -> str:
        return (f'<form method="post" action="/authorize?{request.query_string.decode()}">'
                '<input name="username"><input type="password" name="password">'
                '<button>Sign in</button></form>')

    @app.post("/authorize")
    def sign_in() -> Response:
        target = f"{request.args['redirect_uri']}?{urlencode({'code': 'c', 'state': 's'})}"
        return redirect(target, code=302)

    return app


def broken_bff(port: int, provider_port: int) -> Flask:
    """No HttpOnly, no SameSite, no no-store, no X-CSRF, CORS for all, open redirects, a
    token in /bff/user: every mistake the audit exists to catch."""
    app = Flask("broken_bff")
    origin = f"http://localhost:{port}"

    @app.get("/")
    def spa() -> str:
        return "<!doctype html><title>SPA</title>"

    @app.get("/bff/login")
    def login() -> Response:
        return_url = request.args.get("returnUrl", "/")
        if return_url != "/":
            return redirect(return_url, code=302)
        query = urlencode({"response_type": "code", "redirect_uri": f"{origin}/bff/callback",
                           "state": "1", "code_challenge_method": "plain",
                           "code_challenge": "x"})
        response = redirect(f"http://localhost:{provider_port}/authorize?{query}", code=302)
        response.set_cookie("pending", "1")
        response.set_cookie("bff_login", request.cookies.get("bff_login") or "fresh",
                            path="/bff/", httponly=True, samesite="Lax")
        return response

    @app.get("/bff/callback")
    def callback() -> Response:
        response = redirect("/", code=302)
        response.set_cookie("session", "alice", path="/bff")
        return response

    @app.route("/bff/user", methods=["GET", "OPTIONS"])
    def user() -> Response:
        if request.cookies.get("session") != "alice":
            response = jsonify(error="login_required")
            response.status_code = 401
        else:
            response = jsonify(sub="alice", access_token=FAKE_JWT)
        response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    @app.post("/bff/logout")
    def logout() -> Response:
        response = jsonify(redirect="/")
        response.delete_cookie("session", path="/bff")
        return response

    @app.get("/api/orders")
    @app.get("/api/<path:anything>")
    def orders(anything: str = "") -> Response:
        response = jsonify(orders=[])
        response.headers["Cache-Control"] = "public, max-age=600"
        return response

    return app


@dataclass
class Broken:
    url: str


@pytest.fixture(scope="module")
def broken() -> Iterator[Broken]:
    provider_port, bff_port = free_port(), free_port()
    servers = [make_server("127.0.0.1", provider_port, broken_provider(provider_port)),
               make_server("127.0.0.1", bff_port, broken_bff(bff_port, provider_port))]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield Broken(url=f"http://localhost:{bff_port}")
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def broken_audit(broken: Broken) -> list[Check]:
    return run_audit(AuditOptions(url=broken.url, username="alice", password="anything",
                                  api_path="/api/orders"))


@pytest.mark.parametrize("check,why", [
    ("cookies.all", "pending lacks HttpOnly"),
    ("cookie.session", "session lacks HttpOnly"),
    ("csrf.header-required", "GET /bff/user without X-CSRF answered 401"),
    ("csrf.signed-in", "GET /bff/user without X-CSRF answered 200"),
    ("cross-site.refused", "Sec-Fetch-Site: cross-site answered 401"),
    ("cross-site.signed-in", "POST /bff/logout with Origin: https://evil.example answered 200"),
    ("cors.none", "Access-Control-Allow-Origin: https://evil.example"),
    ("redirect.return-url", "redirects to 'https://evil.example/'"),
    ("headers.bff", "Cache-Control lacks no-store"),
    ("headers.spa", "no Content-Security-Policy"),
    ("tokens.none", "a field named access_token in the body of GET /bff/user (200)"),
    ("session.user", "a JWT-shaped string"),
    ("provider.discovery", "lacks S256"),
    ("provider.login-request", "no PKCE S256 code_challenge"),
    ("api.protected", "GET /api/orders with no X-CSRF answered 200"),
    ("cookie.login-binding", "has Path=/bff/"),
    ("api.paths", "GET /api/orders;x answered 200 (want 400 invalid_path)"),
    ("api.cache", "marked public"),
])
def test_audit_fails_a_misconfigured_bff_where_it_must(broken_audit: list[Check], check: str,
                                                       why: str) -> None:
    result = by_name(broken_audit)[check]
    assert result.status == "FAIL"
    assert why in result.detail


def test_audit_of_a_misconfigured_bff_exits_non_zero_with_a_table(broken: Broken) -> None:
    result = run_cli(broken.url)
    assert result.returncode == 1, result.stderr
    assert "redirect.return-url" in result.stdout and "FAIL" in result.stdout
    assert "skipped" in result.stdout.splitlines()[-1]


def test_audit_names_plain_http_on_a_public_host_a_failure() -> None:
    assert Auditor(AuditOptions(url="http://bff.example")).check_https().status == "FAIL"
    assert Auditor(AuditOptions(url="https://bff.example")).check_https().status == "PASS"


# -- the real thing --------------------------------------------------------------------

def test_audit_passes_on_the_demo(demo_stack: DemoStack) -> None:
    checks = run_audit(AuditOptions(url=demo_stack.bff_url, username="alice",
                                    password="wonderland", api_path="/api/orders"))
    assert failures(checks) == {}
    assert {c.name for c in checks if c.status == "SKIP"} == {"transport.hsts", "api.audiences"}
    passed = {c.name: c.detail for c in checks if c.status == "PASS"}
    assert "provider.par" in passed and "provider.dpop" in passed, "the demo pushes its logins"


def test_audit_cli_exits_zero_on_the_demo_without_credentials(demo_stack: DemoStack) -> None:
    result = run_cli(demo_stack.bff_url)
    assert result.returncode == 0, result.stdout
    assert "session.login" in result.stdout and "needs --username" in result.stdout


@pytest.fixture(scope="module")
def https_stack(redis_server: RedisServer) -> Iterator[Stack]:
    stack = start_https_stack(redis_server, access_token_lifetime=900)
    try:
        yield stack
    finally:
        stack.stop()


def test_audit_passes_on_the_bff_under_gunicorn_with_tls(https_stack: Stack) -> None:
    result = run_cli(https_stack.bff_url, "--username", "bob", "--api-path", "/api/orders",
                     env={"REQUESTS_CA_BUNDLE": str(https_stack.ca_bundle),
                          "BFF_AUDIT_PASSWORD": "builder"})
    assert result.returncode == 0, result.stdout
    assert "HttpOnly, SameSite, Path=/, host-only, Secure, __Host-" in result.stdout
    assert "builder" not in result.stdout
