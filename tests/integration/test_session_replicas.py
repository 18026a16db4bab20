"""With ``BFF_REDIS_WAIT_REPLICAS`` set, a session write carrying rotated tokens is followed by
``WAIT`` on the same connection: when the response leaves, a replica already holds the new
refresh token, so a failover cannot resurrect the spent one. A replica that does not answer in
time delays the response by the bounded wait only; it does not fail the request."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import requests

from tests.integration.session_support import (
    KnownStack,
    expire_access_token,
    start_known_stack,
    store_for,
    wait_until,
)
from tests.support import XHR, RedisServer, log_in, start_redis


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = start_redis()
    replica = start_redis(["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        with replica.client() as client:
            wait_until(lambda: client.info("replication")["master_link_status"] == "up",
                       "the replica to sync")
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


@pytest.fixture(scope="module")
def stack(servers: tuple[RedisServer, RedisServer]) -> Iterator[KnownStack]:
    known = start_known_stack(servers[0], {"BFF_REDIS_WAIT_REPLICAS": "1"})
    try:
        yield known
    finally:
        known.stop()


def wait_calls(server: RedisServer) -> int:
    with server.client() as client:
        return int(client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


def test_rotated_tokens_are_on_the_replica_when_the_response_leaves(
        stack: KnownStack, servers: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = servers
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    session = stack.session(browser)
    assert session is not None
    expire_access_token(stack.store(), session)
    waits = wait_calls(primary)

    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200

    assert wait_calls(primary) == waits + 1
    on_primary = stack.session(browser)
    on_replica = store_for(replica.client(), stack.keys).load_handle(session.handle)
    assert on_primary is not None and on_replica is not None
    assert on_replica.tokens.refresh_token == on_primary.tokens.refresh_token
    assert on_replica.tokens.refresh_token != session.tokens.refresh_token


def test_silent_replica_delays_but_does_not_fail_the_refresh(
        stack: KnownStack, servers: tuple[RedisServer, RedisServer]) -> None:
    _, replica = servers
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    session = stack.session(browser)
    assert session is not None
    expire_access_token(stack.store(), session)
    os.kill(replica.process.pid, signal.SIGSTOP)
    try:
        response = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)
    assert response.status_code == 200
    refreshed = stack.session(browser)
    assert refreshed is not None and refreshed.version == session.version + 2
    assert "reached 0 of 1 replicas" in stack.demo.process.log()
    metrics = requests.get(f"{stack.bff_url}/metrics").text
    assert 'bff_redis_errors_total{kind="replica_ack_missing"} 1.0' in metrics
