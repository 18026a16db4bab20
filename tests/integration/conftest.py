from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.authserver_support import AuthServer, start_authserver
from tests.support import RedisServer


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[AuthServer]:
    """`bff authserver` as a real process, one per test module (its own keys and port)."""
    server = start_authserver(redis_server.url)
    try:
        yield server
    finally:
        server.stop()
