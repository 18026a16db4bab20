"""The BFF on a real Redis Cluster (3 masters, 1 replica each, created by the test): every flow
works, no command crosses a slot, and sessions spread over the masters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from hashlib import sha256
from urllib.parse import urljoin

import pytest
import requests
from redis.crc import key_slot

from bff.sansio.keyspace import refresh_lock_key, session_handle, session_record_key
from tests.integration.scale_support import (
    Cluster,
    Stack,
    check_config,
    make_refresh_due,
    metric,
    session_cookie,
    session_record,
    stack_running,
    start_cluster,
    wait_until,
)
from tests.support import XHR, RedisServer, log_in, parse_form


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = start_cluster(masters=3, replicas=1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def stack(cluster: Cluster, redis_server: RedisServer) -> Iterator[Stack]:
    """The BFF on the cluster, waiting for a replica after rotations; the authorization server
    keeps its own state on a standalone Redis."""
    with stack_running(cluster.url, redis_server.url,
                       bff_env={"BFF_REDIS_WAIT_REPLICAS": "1",
                                "BFF_TRUSTED_PROXIES": "127.0.0.1/32"}) as stack:
        yield stack


def test_login_proxy_refresh_and_logout_work_on_a_cluster(stack: Stack, cluster: Cluster) -> None:
    browser = requests.Session()
    landing = log_in(browser, stack.bff_url, "alice", "wonderland")
    assert landing.url == f"{stack.bff_url}/"
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["name"] == "Alice Liddell"
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200

    client = cluster.client()
    version = session_record(client, browser)["v"]
    refreshed_before = metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed")
    make_refresh_due(client, session_cookie(browser))
    orders = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
    assert orders.status_code == 200, orders.text
    record = session_record(client, browser)
    assert record["v"] == version + 1
    assert record["at_exp"] > time.time()
    assert metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed") == \
        refreshed_before + 1
    assert metric(stack.bff_url, "bff_redis_errors_total", kind="replica_ack_missing") == 0

    cookie = session_cookie(browser)
    assert browser.post(f"{stack.bff_url}/bff/logout", headers=XHR).status_code == 200
    assert session_record(client, cookie) is None
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401


def test_sessions_spread_over_slots_and_masters(stack: Stack, cluster: Cluster) -> None:
    client = cluster.client()
    handles = []
    # Twelve random sessions: all on one of three masters has a chance of 3 * (1/3)**12.
    for _ in range(12):
        browser = requests.Session()
        log_in(browser, stack.bff_url, "bob", "builder")
        assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
        handles.append(session_handle(session_cookie(browser)))
    slots = {key_slot(session_record_key(h).encode()) for h in handles}
    masters = {client.get_node_from_key(session_record_key(h)).name for h in handles}
    assert len(slots) >= len(handles) - 2  # 16384 slots: a collision or two is chance
    assert len(masters) >= 2
    for handle in handles:
        lock, record = refresh_lock_key(handle), session_record_key(handle)
        assert key_slot(lock.encode()) == key_slot(record.encode())


def test_backchannel_logout_ends_the_session_on_a_cluster(stack: Stack, cluster: Cluster) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    confirm = browser.get(f"{stack.issuer}/logout")
    form = parse_form(confirm.text)
    assert form.action is not None, confirm.text
    ended = browser.post(urljoin(confirm.url, form.action), data=form.fields)
    assert ended.status_code == 200
    cookie = session_cookie(browser)
    wait_until(lambda: session_record(cluster.client(), cookie) is None, 15,
               "the back-channel logout reaching the BFF")
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    assert metric(stack.bff_url, "bff_logouts_total", kind="backchannel") >= 1


def test_abuse_limits_count_on_a_cluster(stack: Stack, cluster: Cluster) -> None:
    browser = requests.Session()
    client_address = {"X-Forwarded-For": "198.51.100.23"}
    for _ in range(3):
        started = browser.get(f"{stack.bff_url}/bff/login", headers=client_address,
                              allow_redirects=False)
        assert started.status_code == 302
    binding = browser.cookies.get("bff_login")
    assert binding
    client = cluster.client()
    pending = client.get(f"bff:pending-logins:{{{sha256(binding.encode()).hexdigest()[:32]}}}")
    assert pending == b"2"
    windows = [key for node in cluster.servers for key in node.client().keys("bff:rate:{login:*")]
    assert windows


def test_check_config_describes_the_cluster(stack: Stack) -> None:
    result = check_config(stack.bff_env, stack.bff_config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   redis      cluster via 127.0.0.1" in result.stdout
    assert "3 master(s), 16384 of 16384 slots served" in result.stdout


def test_a_users_sessions_spread_over_masters_are_listed_and_ended_on_a_cluster(
        stack: Stack, cluster: Cluster) -> None:
    """The sub index reaches every session by key, wherever its slot lives: no SCAN, which a
    Cluster would need per node."""
    browsers = []
    for _ in range(6):
        browser = requests.Session()
        log_in(browser, stack.bff_url, "bob", "builder")
        browsers.append(browser)
    listed = browsers[0].get(f"{stack.bff_url}/bff/sessions", headers=XHR).json()["sessions"]
    assert len(listed) >= 6 and sum(s["current"] for s in listed) == 1
    ended = browsers[0].post(f"{stack.bff_url}/bff/sessions/logout-all", headers=XHR)
    assert ended.status_code == 200 and ended.json()["ended"] >= 6
    for browser in browsers[1:]:
        assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
