from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.scale_support import Upstream
from tests.support import DemoStack, RedisServer, start_demo, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port for the whole test run."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_stack(redis_server: RedisServer) -> Iterator[DemoStack]:
    """`bff demo` as a user runs it (authserver, demo API, BFF + SPA), on the private Redis."""
    stack = start_demo(redis_server)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """An API for the proxy to call, echoing the path and headers it received."""
    server = Upstream()
    try:
        yield server
    finally:
        server.stop()
