"""``BFF_REDIS_URL``: every documented form parses to what it names, every mistake is refused at
start-up with a message naming the fix, and the client built for each mode is the right one."""

from __future__ import annotations

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from bff.errors import SessionStoreUnavailable
from bff.sansio.redis_url import RedisTarget, RedisUrlError, parse_redis_url
from bff.settings import SettingsError, build_settings, generate_secret_key
from bff.store import (
    OUTAGE_ERRORS,
    RedisOptions,
    as_unavailable,
    connect,
    store_errors,
)


def test_plain_url_with_database() -> None:
    target = parse_redis_url("redis://redis.internal:6380/2")
    assert target == RedisTarget(mode="standalone", hosts=(("redis.internal", 6380),), db=2)


def test_default_port_and_database() -> None:
    assert parse_redis_url("redis://cache").hosts == (("cache", 6379),)
    assert parse_redis_url("redis://cache").db == 0


def test_tls_url_takes_certificate_options_from_the_query() -> None:
    target = parse_redis_url("rediss://app:s%40cret@cache:6380/1?ssl_cert_reqs=required"
                             "&ssl_ca_certs=/etc/ssl/ca.pem&ssl_check_hostname=false")
    assert target.tls
    assert (target.username, target.password, target.db) == ("app", "s@cret", 1)
    assert dict(target.tls_options) == {"ssl_cert_reqs": "required",
                                        "ssl_ca_certs": "/etc/ssl/ca.pem",
                                        "ssl_check_hostname": False}


def test_unix_socket_with_database_in_query() -> None:
    target = parse_redis_url("unix:///run/redis/redis.sock?db=4")
    assert (target.mode, target.unix_path, target.db) == ("standalone", "/run/redis/redis.sock", 4)


def test_sentinel_url_names_sentinels_master_and_database() -> None:
    target = parse_redis_url("redis+sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/5")
    assert target.mode == "sentinel"
    assert target.hosts == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (target.service, target.db, target.password) == ("mymaster", 5, "pw")


def test_cluster_url_names_any_nodes() -> None:
    target = parse_redis_url("redis+cluster://node-a:7000,node-b:7001")
    assert target.mode == "cluster"
    assert target.hosts == (("node-a", 7000), ("node-b", 7001))


@pytest.mark.parametrize(("url", "says"), [
    ("http://cache:6379", "must start with one of"),
    ("cache:6379", "must start with one of"),
    ("redis://a:6379,b:6379", "several hosts need redis+sentinel"),
    ("redis://cache/zero", "must be a number"),
    ("redis://cache/0/1", "at most a database number"),
    ("redis://cache/0?timeout=1", "unknown option 'timeout'"),
    ("redis://cache/0?ssl_cert_reqs=none", "needs a TLS scheme"),
    ("rediss://cache/0?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
    ("redis+sentinel://s1:26379", "names the master after the hosts"),
    ("redis+sentinel://s1:26379/m/1/2", "master-name[/db]"),
    ("redis+cluster://node:7000/3", "only database 0"),
    ("unix://host/socket", "absolute socket path"),
    ("redis://:6379", "no host"),
    ("redis://cache:port", "is not a number"),
])
def test_malformed_urls_are_refused_with_a_hint(url: str, says: str) -> None:
    with pytest.raises(RedisUrlError) as refused:
        parse_redis_url(url)
    assert says in str(refused.value)


def test_a_bad_url_stops_start_up_with_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="redis\\+sentinel"):
        build_settings({"base_url": "http://localhost:8000", "issuer": "http://localhost:8001",
                        "client_id": "c", "client_secret": "s",
                        "secret_keys": generate_secret_key(),
                        "redis_url": "redis+sentinel://s1:26379"})


def test_description_never_shows_the_password() -> None:
    described = parse_redis_url("redis+sentinel://:hunter2@s1/m/1").describe()
    assert "hunter2" not in described and "hunter2" not in repr(parse_redis_url(
        "redis://:hunter2@cache"))
    assert described == "sentinel s1:26379 master 'm' db 1"


def test_standalone_client_is_pooled_with_bounded_timeouts() -> None:
    client = connect("redis://127.0.0.1:1/3", RedisOptions(max_connections=7, socket_timeout=1.5,
                                                            connect_timeout=0.5))
    pool = client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == 7
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == \
        (3, 1.5, 0.5)
    assert kwargs["retry"].get_retries() == 2


def test_unix_client_uses_the_socket() -> None:
    client = connect("unix:///run/redis.sock?db=2")
    assert isinstance(client.connection_pool.connection_kwargs.get("path"), str)
    assert client.connection_pool.connection_class is redis.UnixDomainSocketConnection


def test_sentinel_client_asks_for_the_master_with_password_and_database() -> None:
    client = connect("redis+sentinel://:pw@127.0.0.1:1/mymaster/4")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.is_master and pool.service_name == "mymaster"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (4, "pw")
    sentinel = pool.sentinel_manager.sentinels[0]
    assert sentinel.connection_pool.connection_kwargs["password"] == "pw"


def test_redis_outages_become_session_store_unavailable() -> None:
    for error in (redis.ConnectionError("refused"), redis.TimeoutError("slow"),
                  redis.exceptions.ReadOnlyError("READONLY"),
                  redis.exceptions.ClusterDownError("CLUSTERDOWN")):
        assert isinstance(error, OUTAGE_ERRORS)
        with pytest.raises(SessionStoreUnavailable) as raised, store_errors():
            raise error
        assert raised.value.status == 503
        assert "refused" not in raised.value.description
    assert as_unavailable(redis.ConnectionError()).code == "session_store_unavailable"


def test_programming_errors_are_not_disguised_as_outages() -> None:
    with pytest.raises(redis.ResponseError), store_errors():
        raise redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
