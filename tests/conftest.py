from __future__ import annotations

from collections.abc import Iterator

import pytest

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
