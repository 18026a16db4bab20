from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port for the whole test run."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()
