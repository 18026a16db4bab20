"""One Redis client from ``BFF_REDIS_URL``, and Redis failures turned into a 503.

``BFF_REDIS_URL`` names the deployment, and the client follows it:

- ``redis://[user:pass@]host:port[/db]``, ``rediss://...`` (TLS, options in the query) and
  ``unix:///path/to/redis.sock[?db=N]``: one server;
- ``redis+sentinel://[user:pass@]host:port[,host:port...]/master-name[/db]`` (``rediss+sentinel``
  for TLS): the master Sentinel names, found again after a failover; the password is used for the
  sentinels and the master, and the database number is honoured;
- ``redis+cluster://[user:pass@]host:port[,host:port...]`` (``rediss+cluster``): a Redis Cluster,
  reached through any of its nodes.

Every key the BFF writes for one session carries the same hash tag (``bff:{<handle>}:...``), and
every other multi-key operation is a sequence of single-key commands, so nothing crosses a Cluster
slot. Pools are bounded, sockets time out, and only connection errors are retried (with backoff):
a command that timed out may have run, so it is never sent twice. Outages become
``session_store_unavailable`` (503), counted in ``bff_redis_errors_total``; the client reconnects
by itself when Redis, or a new Sentinel master, answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import (
    BlockingConnectionPool,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import (
    BusyLoadingError,
    ClusterError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedSSLConnection

from bff import metrics
from bff.errors import SessionStoreUnavailable
from bff.sansio.redis_url import RedisTarget, parse_redis_url

log = logging.getLogger(__name__)

RedisClient = redis.Redis | RedisCluster


OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,  # also MasterNotFoundError, BusyLoadingError, MaxConnectionsError
    redis.TimeoutError,
    ClusterError,  # ClusterDownError, MasterDownError
    RedisClusterException,  # SlotNotCoveredError: the cluster is being reconfigured
    TryAgainError,
    ReadOnlyError,  # a demoted master still answering
    OutOfMemoryError,  # maxmemory reached with noeviction
)


@dataclass(frozen=True)
class RedisOptions:
    """Pool and timeout sizing; one pool per process (per node under Cluster)."""

    max_connections: int = 64
    socket_timeout: float = 2.0
    connect_timeout: float = 2.0
    retries: int = 2


def connect(url: str, options: RedisOptions | None = None) -> RedisClient:
    """The client for the deployment ``url`` names: pooled, bounded, retrying connects only."""
    target = parse_redis_url(url)
    options = options or RedisOptions()
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=options.retries)
    common: dict[str, Any] = {
        "username": target.username, "password": target.password,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.connect_timeout,
    }
    if not target.unix_path:
        common["socket_keepalive"] = True
    tls = dict(target.tls_options)
    if target.mode == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
            retry=retry, max_connections=options.max_connections, ssl=target.tls,
            require_full_coverage=True, **common, **tls,
        )
    common.update(retry=retry, retry_on_error=[redis.ConnectionError], health_check_interval=30)
    if target.mode == "sentinel":
        sentinel_kwargs = {k: v for k, v in common.items() if k != "health_check_interval"}
        if target.tls:
            sentinel_kwargs.update(ssl=True, **tls)
        sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs)
        extra: dict[str, Any] = dict(tls)
        if target.tls:
            extra["connection_class"] = SentinelManagedSSLConnection
        return sentinel.master_for(target.service, db=target.db,
                                   max_connections=options.max_connections, **common, **extra)
    pool_kwargs: dict[str, Any] = {**common, "db": target.db}
    if target.unix_path:
        pool_kwargs.update(connection_class=UnixDomainSocketConnection, path=target.unix_path)
    else:
        host, port = target.hosts[0]
        pool_kwargs.update(host=host, port=port,
                           connection_class=SSLConnection if target.tls else Connection, **tls)
    pool = BlockingConnectionPool(max_connections=options.max_connections,
                                  timeout=options.connect_timeout, **pool_kwargs)
    return redis.Redis(connection_pool=pool)


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn any Redis outage into ``session_store_unavailable`` instead of a traceback."""
    try:
        yield
    except OUTAGE_ERRORS as exc:
        raise as_unavailable(exc) from exc


def as_unavailable(exc: Exception) -> SessionStoreUnavailable:
    """Count the outage and say it in words a user can act on; the cause stays in the log."""
    kind = "timeout" if isinstance(exc, redis.TimeoutError) else \
        "loading" if isinstance(exc, BusyLoadingError) else \
        "connection" if isinstance(exc, redis.ConnectionError) else \
        "out_of_memory" if isinstance(exc, OutOfMemoryError) else "cluster"
    metrics.REDIS_ERRORS.labels(kind=kind).inc()
    log.warning("session store unavailable: %s", type(exc).__name__)
    return SessionStoreUnavailable(
        "The session store cannot be reached right now; please retry in a moment."
    )


def describe_deployment(client: RedisClient, target: RedisTarget) -> str:
    """What the client reaches, in a line: role, replicas, version; for ``bff check-config``."""
    if isinstance(client, RedisCluster):
        info = client.cluster_info()
        masters = len(client.get_primaries())
        return (f"{target.describe()}: state {info.get('cluster_state')}, {masters} master(s), "
                f"{info.get('cluster_slots_ok')} of 16384 slots served")
    reply = client.execute_command("ROLE")
    role = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    replicas = len(reply[2]) if role == "master" else 0
    version = client.info("server").get("redis_version", "?")
    where = ""
    if target.mode == "sentinel":
        host, port = client.connection_pool.get_master_address()
        where = f" at {host}:{port}"
    return f"{target.describe()}: {role}{where}, {replicas} replica(s), Redis {version}"
