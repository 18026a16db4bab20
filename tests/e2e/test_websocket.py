"""WebSockets in a real browser through nginx in forward-auth mode (deploy/edge/nginx.conf):
alice's page opens a WebSocket on its own origin and the upstream sees her bearer token and no
cookie; a page on another site opening the same WebSocket is refused before the upstream."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

from bff.demo import render_config
from bff.settings import generate_secret_key
from tests.e2e.conftest import launch_chromium
from tests.edge_support import EchoSocket, shipped_nginx
from tests.support import ROOT, BffProcess, RedisServer, free_port, free_port_run, start_bff

EVIL_HOST = "evil.example.test"
OPEN = """async (url) => await new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onmessage = (event) => { resolve(JSON.parse(event.data)); socket.close(); };
    socket.onerror = () => resolve('refused');
    setTimeout(() => resolve('timeout'), 8000);
})"""


@dataclass
class EdgeStack:
    port: int
    echo: EchoSocket

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="module")
def edge_stack(e2e_redis: RedisServer) -> Iterator[EdgeStack]:
    """The reference provider, a BFF whose public origin is nginx's, the shipped nginx config."""
    port = free_port_run(4)
    bff_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bff-e2e-ws-"))
    auth_config = render_config(ROOT / "config" / "authserver.toml", workdir / "as.toml", port)
    routes = workdir / "routes.toml"
    echo = EchoSocket()
    routes.write_text(f'[[routes]]\nprefix = "/api/ws"\nupstream = "http://{echo.address}/ws"\n'
                      'websocket = true\n')
    issuer = f"http://localhost:{port + 1}"
    processes: list[BffProcess] = []
    try:
        processes.append(start_bff(
            ["authserver", "--config", str(auth_config), "--port", str(port + 1)], port + 1,
            env={"BFF_AUTHSERVER_ISSUER": issuer, "BFF_AUTHSERVER_REDIS_URL": e2e_redis.url,
                 "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys")}))
        processes.append(start_bff(["serve", "--config", str(routes), "--port", str(bff_port)],
                                   bff_port, env={
            "BFF_BASE_URL": f"http://localhost:{port}", "BFF_ISSUER": issuer,
            "BFF_CLIENT_ID": "bff-demo", "BFF_CLIENT_SECRET": "demo-bff-secret-change-me",
            "BFF_SECRET_KEYS": generate_secret_key(), "BFF_REDIS_URL": e2e_redis.url,
            "BFF_TRUSTED_PROXIES": "127.0.0.1/32"}))
        with shipped_nginx(port, f"127.0.0.1:{bff_port}", echo.address):
            yield EdgeStack(port=port, echo=echo)
    finally:
        for process in processes:
            process.stop()
        echo.stop()


@pytest.fixture(scope="module")
def resolving_chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright, f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1")
    try:
        yield browser
    finally:
        browser.close()


def test_alices_page_gets_a_websocket_with_her_bearer_and_another_sites_page_does_not(
        edge_stack: EdgeStack, resolving_chromium: Browser) -> None:
    context = resolving_chromium.new_context()
    page = context.new_page()
    page.goto(f"{edge_stack.origin}/bff/login?returnUrl=/healthz")
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill("wonderland")
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(f"{edge_stack.origin}/healthz")
    socket_url = f"ws://localhost:{edge_stack.port}/api/ws/chat"
    hello = page.evaluate(OPEN, socket_url)
    assert isinstance(hello, dict), hello
    headers = {k.lower(): v for k, v in hello["headers"].items()}
    assert headers["authorization"].startswith("Bearer ")
    assert "cookie" not in headers
    assert json.dumps(hello).count("bff=") == 0

    connections = edge_stack.echo.connections
    evil = context.new_page()
    evil.goto(f"http://{EVIL_HOST}:{edge_stack.port}/healthz")
    assert evil.evaluate(OPEN, socket_url) == "refused"
    assert edge_stack.echo.connections == connections, "the upstream never saw the handshake"
    context.close()
