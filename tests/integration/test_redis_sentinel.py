"""The BFF on Redis Sentinel (a master, a replica, a sentinel; all password-protected): the
database number is honoured, and killing the master mid-traffic costs a bounded window of 503s,
after which the same session keeps working, including its rotated refresh token."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.integration.scale_support import (
    SentinelGroup,
    Stack,
    check_config,
    make_refresh_due,
    metric,
    session_cookie,
    session_record,
    stack_running,
    start_sentinel_group,
    wait_until,
)
from tests.support import XHR, RedisServer, log_in

FAILOVER_DEADLINE = 60.0


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    group = start_sentinel_group()
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture(scope="module")
def stack(group: SentinelGroup, redis_server: RedisServer) -> Iterator[Stack]:
    """The BFF on the Sentinel-managed master; the authorization server on its own Redis."""
    with stack_running(group.url, redis_server.url,
                       bff_env={"BFF_REDIS_WAIT_REPLICAS": "1"}) as stack:
        yield stack


def test_sessions_live_in_the_database_the_url_names(stack: Stack, group: SentinelGroup) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "bob", "builder")
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    assert session_record(group.current_master(), browser) is not None
    assert session_record(group.current_master(db=0), browser) is None


def test_check_config_finds_the_master_through_the_sentinel(stack: Stack) -> None:
    result = check_config(stack.bff_env, stack.bff_config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   redis      sentinel 127.0.0.1:" in result.stdout
    assert "master 'bffmaster' db 3: master at 127.0.0.1:" in result.stdout
    assert "1 replica(s)" in result.stdout
    assert "sentinel-and-redis-secret" not in result.stdout + result.stderr


class Traffic(threading.Thread):
    """A browser calling the API over and over, remembering every answer."""

    def __init__(self, browser: requests.Session, url: str) -> None:
        super().__init__(daemon=True)
        self.browser = browser
        self.url = url
        self.answers: list[tuple[float, int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                response = self.browser.get(self.url, headers=XHR, timeout=30)
                self.answers.append((time.monotonic(), response.status_code, response.text))
            except requests.RequestException as exc:  # kept, so the test reports it
                self.answers.append((time.monotonic(), 0, repr(exc)))
            time.sleep(0.05)

    def summary(self) -> str:
        statuses = [status for _, status, _ in self.answers]
        return f"{len(statuses)} answers, last ones {statuses[-10:]}: {self.answers[-1:]}"

    def successes_since(self, moment: float) -> int:
        return sum(1 for at, status, _ in self.answers if at > moment and status == 200)


def test_master_killed_mid_traffic_fails_over_and_the_session_survives(
        stack: Stack, group: SentinelGroup) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    refreshed = metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed")
    make_refresh_due(group.current_master(), session_cookie(browser))
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    assert metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed") == \
        refreshed + 1
    old_master_port = group.master.port

    traffic = Traffic(browser, f"{stack.bff_url}/api/orders")
    traffic.start()
    try:
        wait_until(lambda: traffic.successes_since(0) >= 3, 10, "traffic flowing")
        group.master.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            wait_until(lambda: traffic.successes_since(killed_at) >= 5, FAILOVER_DEADLINE,
                       "the session working again after the failover")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; traffic saw {traffic.summary()}") from exc
    finally:
        traffic.stopping.set()
        traffic.join(timeout=30)

    assert group.master_address()[1] != old_master_port
    failures = [(status, text) for _, status, text in traffic.answers if status != 200]
    for status, text in failures:
        assert status == 503, text
        assert '"session_store_unavailable"' in text
    window = [at for at, status, _ in traffic.answers if status == 503]
    assert not window or window[-1] - window[0] < FAILOVER_DEADLINE

    # The rotation written before the failover reached the replica: refreshing again spends
    # the newest refresh token, which the provider accepts (a lost one would end the session).
    make_refresh_due(group.current_master(), session_cookie(browser))
    after = browser.get(f"{stack.bff_url}/api/orders", headers=XHR)
    assert after.status_code == 200, after.text
    assert metric(stack.bff_url, "bff_token_refreshes_total", outcome="refreshed") == \
        refreshed + 2
    assert metric(stack.bff_url, "bff_token_refreshes_total", outcome="rejected") == 0
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["sub"]
