"""WebSockets through forward-auth with a real nginx (deploy/edge/nginx.conf, rendered as is):
the BFF checks the session and the exact Origin of the handshake, nginx proxies the upgrade
with the user's bearer, and the upstream never sees the cookie."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bff.processes import free_port
from tests.edge_support import EchoSocket, shipped_nginx
from tests.integration.proxy.harness import CLIENT_ID, CLIENT_SECRET, SCOPES, Stack
from tests.support import BffProcess, RedisServer, start_bff


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoSocket]:
    running = EchoSocket()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def edge(stack: Stack, redis_server: RedisServer, echo: EchoSocket
         ) -> Iterator[tuple[str, BffProcess]]:
    """nginx on its port in front of a BFF whose public origin is nginx's."""
    port, bff_port = free_port(), free_port()
    routes = Path(tempfile.mkdtemp(prefix="bff-test-ws-")) / "routes.toml"
    routes.write_text(f"""
[[routes]]
prefix = "/api/ws"
upstream = "http://{echo.address}/ws"
websocket = true

[[routes]]
prefix = "/api/plain"
upstream = "http://{echo.address}/plain"
""")
    bff = start_bff(["serve", "--config", str(routes), "--port", str(bff_port)], bff_port, {
        "BFF_BASE_URL": f"http://localhost:{port}", "BFF_ISSUER": stack.settings.issuer,
        "BFF_CLIENT_ID": CLIENT_ID, "BFF_CLIENT_SECRET": CLIENT_SECRET, "BFF_SCOPES": SCOPES,
        "BFF_REDIS_URL": redis_server.url,
        "BFF_SECRET_KEYS": ",".join(_key_text(k) for k in stack.settings.secret_keys),
        "BFF_TRUSTED_PROXIES": "127.0.0.1/32"})
    try:
        with shipped_nginx(port, f"127.0.0.1:{bff_port}", echo.address) as address:
            yield address, bff
    finally:
        bff.stop()


def _key_text(key: Any) -> str:
    """A sealing key as BFF_SECRET_KEYS writes it, so this BFF opens the planted sessions."""
    return base64.urlsafe_b64encode(key.key).decode().rstrip("=")


def open_socket(edge: str, path: str, cookie: str | None, origin: str | None) -> Any:
    headers = {"Cookie": f"bff={cookie}"} if cookie else {}
    return connect(f"ws://{edge}{path}", origin=origin, additional_headers=headers,  # type: ignore[arg-type]
                   open_timeout=10)


def test_a_same_origin_websocket_reaches_the_upstream_with_the_bearer_not_the_cookie(
        stack: Stack, edge: tuple[str, BffProcess]) -> None:
    address, _ = edge
    cookie, token, _ = stack.plant_session()
    with open_socket(address, "/api/ws/chat", cookie, f"http://{address}") as socket:
        hello = json.loads(socket.recv(timeout=10))
        headers = {k.lower(): v for k, v in hello["headers"].items()}
        assert hello["path"] == "/api/ws/chat"
        assert headers["authorization"] == f"Bearer {token}"
        assert "cookie" not in headers
        socket.send("ping")
        assert socket.recv(timeout=10) == "ping"


@pytest.mark.parametrize("origin", [
    None, "http://evil.example", "null", "http://LOCALHOST:{port}", "https://{address}",
    "http://{address}/", "http://127.0.0.1:{port}", "http://{address}.evil.example",
])
def test_a_handshake_from_any_other_origin_is_refused(
        stack: Stack, edge: tuple[str, BffProcess], echo: EchoSocket, origin: str | None
        ) -> None:
    address, _ = edge
    cookie, _, _ = stack.plant_session()
    before = echo.connections
    forged = origin.format(address=address, port=address.rsplit(":", 1)[1]) if origin else None
    with pytest.raises(InvalidStatus) as refused:
        open_socket(address, "/api/ws/chat", cookie, forged)
    assert refused.value.response.status_code == 403
    assert echo.connections == before, "the upstream never saw the handshake"


def test_no_session_and_a_route_without_websockets_are_refused(
        stack: Stack, edge: tuple[str, BffProcess], echo: EchoSocket) -> None:
    address, _ = edge
    cookie, _, _ = stack.plant_session()
    before = echo.connections
    with pytest.raises(InvalidStatus) as anonymous:
        open_socket(address, "/api/ws/chat", None, f"http://{address}")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as not_allowed:
        open_socket(address, "/api/plain/chat", cookie, f"http://{address}")
    assert not_allowed.value.response.status_code == 403
    assert echo.connections == before
