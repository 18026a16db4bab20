"""One Redis client from ``BFF_REDIS_URL``, and the translation of Redis failures into a 503.

Every key the BFF writes for one session carries the same hash tag (``bff:{<handle>}:...``), so
multi-key work for a session stays in one Redis Cluster slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bff.errors import SessionStoreUnavailable

T = TypeVar("T")
SOCKET_TIMEOUT = 2.0


def connect(url: str) -> redis.Redis:
    """A pooled client with bounded timeouts that retries only connection errors."""
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[redis.ConnectionError],
        decode_responses=False,
    )


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn any Redis outage into ``session_store_unavailable`` instead of a traceback."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise SessionStoreUnavailable(
            "The session store cannot be reached right now; please retry in a moment."
        ) from exc


def guarded(call: Callable[[], T]) -> T:
    with store_errors():
        return call()
