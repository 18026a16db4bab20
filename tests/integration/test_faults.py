"""Failure is graceful (invariant 8): Redis stopped mid-traffic, the provider stopped, upstreams
down or slow, and the BFF itself stopped while requests are in flight."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.scale_support import (
    Stack,
    Upstream,
    make_refresh_due,
    metric,
    session_cookie,
    session_record,
    stack_running,
    start_redis_at,
    stop_process,
    wait_until,
)
from tests.support import XHR, RedisServer, free_port, log_in


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    """The BFF's own Redis, with an append-only file so a restart keeps its data."""
    server = start_redis_at(free_port(), Path(tempfile.mkdtemp(prefix="bff-test-redis-aof-")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow() -> Iterator[Upstream]:
    upstream = Upstream(delay=5.0)
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def stack(store: RedisServer, redis_server: RedisServer, slow: Upstream) -> Iterator[Stack]:
    routes = f"""
[[routes]]
prefix = "/api/dead"
upstream = "http://127.0.0.1:{free_port()}/x"
token = "none"
connect_timeout = 1.0

[[routes]]
prefix = "/api/slow"
upstream = "{slow.url}/slow"
token = "none"
read_timeout = 0.5
"""
    with stack_running(store.url, redis_server.url, extra_routes=routes) as stack:
        yield stack


def restart(server: RedisServer) -> RedisServer:
    return start_redis_at(server.port, server.directory)


def test_redis_outage_gives_503_and_recovers_by_itself_with_sessions_intact(
        stack: Stack, store: RedisServer) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    errors = metric(stack.bff_url, "bff_redis_errors_total")

    store.stop()
    try:
        api = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
        assert api.status_code == 503
        assert api.json()["error"] == "session_store_unavailable"
        page = browser.get(f"{stack.bff_url}/bff/login", headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert "text/html" in page.headers["Content-Type"]
        assert "session store cannot be reached" in page.text
        assert "Traceback" not in page.text
        user = browser.get(f"{stack.bff_url}/bff/user", headers=XHR)
        assert user.status_code == 503
        assert requests.get(f"{stack.bff_url}/healthz").status_code == 200
        ready = requests.get(f"{stack.bff_url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        assert metric(stack.bff_url, "bff_redis_errors_total") > errors
        assert stack.bff.process.poll() is None
    finally:
        restarted = restart(store)
        store.process = restarted.process

    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["name"] == "Alice Liddell"
    assert requests.get(f"{stack.bff_url}/readyz").status_code == 200
    assert "Traceback" not in stack.bff.log()


def test_provider_outage_spares_valid_sessions_and_refresh_resumes(
        stack: Stack, store: RedisServer) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    unavailable = metric(stack.bff_url, "bff_token_refreshes_total",
                         outcome="provider_unavailable")
    refreshed = metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed")

    for process in stack.authservers:
        stop_process(process)
    try:
        assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200

        # Due for refresh but still valid: the refresh fails, the request still succeeds.
        make_refresh_due(store.client(), session_cookie(browser), expires_in=30)
        version = session_record(store.client(), browser)["v"]
        assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
        assert metric(stack.bff_url, "bff_token_refreshes_total",
                      outcome="provider_unavailable") > unavailable

        # Expired and the provider still down: a clear 503, and the session is kept.
        make_refresh_due(store.client(), session_cookie(browser), expires_in=-1)
        expired = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
        assert expired.status_code == 503
        assert expired.json()["error"] == "provider_unavailable"
        assert session_record(store.client(), browser)["v"] == version

        def login_page() -> list[requests.Response]:
            page = requests.get(f"{stack.bff_url}/bff/login", headers={"Accept": "text/html"},
                                allow_redirects=False)
            return [page] if page.status_code == 503 else []

        # The provider probe behind the login page is cached for a moment: wait it out.
        login = wait_until(login_page, 15, "the login page saying so")[0]
        assert "identity provider cannot be reached" in login.text
        ready = requests.get(f"{stack.bff_url}/readyz").json()
        assert ready["provider_live"] == "unreachable"
    finally:
        stack.authservers.clear()
        stack.start_authserver()

    after = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
    assert after.status_code == 200, after.text
    assert session_record(store.client(), browser)["v"] == version + 1
    assert metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed") == \
        refreshed + 1


def test_upstream_down_gives_502_and_slow_gives_504(stack: Stack) -> None:
    down = requests.get(f"{stack.bff_url}/api/dead/x", headers=XHR)
    assert down.status_code == 502
    assert down.json()["error"] == "upstream_unavailable"
    slow = requests.get(f"{stack.bff_url}/api/slow/x", headers=XHR)
    assert slow.status_code == 504
    assert slow.json()["error"] == "upstream_timeout"
    assert metric(stack.bff_url, "bff_upstream_duration_seconds_count", route="/api/slow",
                  outcome="timeout") >= 1
    assert metric(stack.bff_url, "bff_upstream_duration_seconds_count", route="/api/dead",
                  outcome="unreachable") >= 1


def test_stopping_the_bff_lets_requests_in_flight_finish(stack: Stack) -> None:
    upstream = Upstream(delay=1.5)
    config = stack.workdir / "inflight.toml"
    config.write_text(stack.bff_config.read_text() + f"""
[[routes]]
prefix = "/api/inflight"
upstream = "{upstream.url}/inflight"
token = "none"
""")
    try:
        bff = stack.start_bff(config=config)
        results: list[requests.Response] = []
        caller = threading.Thread(target=lambda: results.append(
            requests.get(f"{bff.url}/api/inflight/work", headers=XHR, timeout=30)))
        caller.start()
        assert upstream.received.wait(15)
        bff.process.terminate()
        caller.join(timeout=30)
        assert bff.process.wait(timeout=30) == 0
    finally:
        upstream.stop()
    assert results and results[0].status_code == 200
    assert results[0].json()["path"] == "/inflight/work"
