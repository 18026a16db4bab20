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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

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

log = logging.getLogger(__name__)

Mode = Literal["standalone", "sentinel", "cluster"]
RedisClient = redis.Redis | RedisCluster

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
TLS_OPTIONS: dict[str, Callable[[str], Any]] = {
    "ssl_cert_reqs": lambda v: _choice(v, ("none", "optional", "required"), "ssl_cert_reqs"),
    "ssl_ca_certs": str,
    "ssl_ca_path": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_check_hostname": lambda v: _boolean(v, "ssl_check_hostname"),
}

OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,  # also MasterNotFoundError, BusyLoadingError, MaxConnectionsError
    redis.TimeoutError,
    ClusterError,  # ClusterDownError, MasterDownError
    RedisClusterException,  # SlotNotCoveredError: the cluster is being reconfigured
    TryAgainError,
    ReadOnlyError,  # a demoted master still answering
    OutOfMemoryError,  # maxmemory reached with noeviction
)


class RedisUrlError(ValueError):
    """``BFF_REDIS_URL`` cannot be understood; the message says what is wrong and the forms."""


@dataclass(frozen=True)
class RedisOptions:
    """Pool and timeout sizing; one pool per process (per node under Cluster)."""

    max_connections: int = 64
    socket_timeout: float = 2.0
    connect_timeout: float = 2.0
    retries: int = 2


@dataclass(frozen=True)
class RedisTarget:
    """What a ``BFF_REDIS_URL`` names, parsed and checked before any connection is made."""

    mode: Mode
    hosts: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        """The URL without its password, for logs and ``bff check-config``."""
        where = self.unix_path or ",".join(f"{h}:{p}" for h, p in self.hosts)
        tls = " (TLS)" if self.tls else ""
        if self.mode == "sentinel":
            return f"sentinel {where} master {self.service!r} db {self.db}{tls}"
        if self.mode == "cluster":
            return f"cluster via {where}{tls}"
        return f"standalone {where} db {self.db}{tls}"


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value.lower() not in allowed:
        raise RedisUrlError(f"BFF_REDIS_URL: {name} must be one of {', '.join(allowed)}")
    return value.lower()


def _boolean(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise RedisUrlError(f"BFF_REDIS_URL: {name} must be true or false, got {value!r}")


def _db(text: str, where: str) -> int:
    if not text.isdigit():
        raise RedisUrlError(f"BFF_REDIS_URL: the database number {where} must be a number, "
                            f"got {text!r}")
    return int(text)


def _hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for part in netloc.split(","):
        if not part:
            raise RedisUrlError("BFF_REDIS_URL: an empty host in the host list")
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port_text = rest.removeprefix(":")
        else:
            host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
        if not host:
            raise RedisUrlError(f"BFF_REDIS_URL: no host in {part!r}")
        if port_text and not port_text.isdigit():
            raise RedisUrlError(f"BFF_REDIS_URL: the port in {part!r} is not a number")
        hosts.append((host, int(port_text) if port_text else default_port))
    return tuple(hosts)


def parse_redis_url(url: str) -> RedisTarget:
    """Check a ``BFF_REDIS_URL`` and say what it names; no I/O."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    forms = ("redis://, rediss://, unix://, redis+sentinel://host:port[,host:port]/master[/db] "
             "or redis+cluster://host:port")
    if not sep or scheme not in ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel",
                                 "redis+cluster", "rediss+cluster"):
        raise RedisUrlError(f"BFF_REDIS_URL must start with one of {forms}")
    tls = scheme.startswith("rediss")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise RedisUrlError("BFF_REDIS_URL must not carry a #fragment")
    location, _, query_text = rest.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    userinfo, at, hostpart = location.rpartition("@")
    if not at:
        hostpart = location
    username = password = None
    if userinfo:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    netloc, _, path = hostpart.partition("/")
    segments = [unquote(s) for s in path.split("/") if s]
    db = _db(query.pop("db"), "in ?db=") if "db" in query else 0
    tls_options = []
    for name, value in query.items():
        if name not in TLS_OPTIONS:
            raise RedisUrlError(f"BFF_REDIS_URL: unknown option {name!r}; known: db, "
                                f"{', '.join(TLS_OPTIONS)}")
        if not tls:
            raise RedisUrlError(f"BFF_REDIS_URL: {name} needs a TLS scheme (rediss...)")
        tls_options.append((name, TLS_OPTIONS[name](value)))
    common = {"username": username, "password": password, "tls": tls,
              "tls_options": tuple(tls_options)}
    if scheme == "unix":
        if netloc or not path:
            raise RedisUrlError("BFF_REDIS_URL: unix:// takes an absolute socket path, "
                                "as in unix:///run/redis/redis.sock?db=0")
        return RedisTarget(mode="standalone", unix_path="/" + path, db=db, **common)
    if not netloc:
        raise RedisUrlError(f"BFF_REDIS_URL: no host in {scheme}://; expected {forms}")
    if scheme.endswith("+sentinel"):
        if not segments:
            raise RedisUrlError("BFF_REDIS_URL: a Sentinel URL names the master after the "
                                "hosts, as in redis+sentinel://s1:26379,s2:26379/mymaster/0")
        if len(segments) > 2:
            raise RedisUrlError("BFF_REDIS_URL: a Sentinel URL is .../master-name[/db]")
        if len(segments) == 2:
            db = _db(segments[1], "after the master name")
        return RedisTarget(mode="sentinel", hosts=_hosts(netloc, DEFAULT_SENTINEL_PORT),
                           service=segments[0], db=db, **common)
    if scheme.endswith("+cluster"):
        if segments and segments != ["0"] or db:
            raise RedisUrlError("BFF_REDIS_URL: a Redis Cluster has only database 0; "
                                "remove the /db from redis+cluster://")
        return RedisTarget(mode="cluster", hosts=_hosts(netloc, DEFAULT_PORT), **common)
    if len(segments) > 1:
        raise RedisUrlError("BFF_REDIS_URL: redis://host:port[/db] takes at most a database "
                            "number as its path")
    if segments:
        db = _db(segments[0], "in the path")
    hosts = _hosts(netloc, DEFAULT_PORT)
    if len(hosts) != 1:
        raise RedisUrlError("BFF_REDIS_URL: several hosts need redis+sentinel:// or "
                            "redis+cluster://")
    return RedisTarget(mode="standalone", hosts=hosts, db=db, **common)


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
