from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.authserver_support import AuthServer, start_authserver
from tests.integration.session_support import KnownStack, start_known_stack
from tests.support import RedisServer


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[AuthServer]:
    """`bff authserver` as a real process, one per test module (its own keys and port)."""
    server = start_authserver(redis_server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[KnownStack]:
    """The demo as separate processes on the shared Redis, with keys the tests know; one per
    module. A module that needs another stack defines its own ``stack``."""
    known = start_known_stack(redis_server)
    try:
        yield known
    finally:
        known.stop()
