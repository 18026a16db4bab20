"""Several BFF instances (separate processes) on one Redis with no sticky sessions, and two
authorization server instances behind a round-robin balancer on their own shared Redis state:
any instance serves any request, a refresh storm split over instances makes one refresh grant,
and the login abuse limits are shared."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
import requests

from tests.integration.scale_support import (
    Stack,
    make_refresh_due,
    metric,
    session_cookie,
    session_record,
    stack_running,
)
from tests.support import XHR, RedisServer, log_in

RATE_LIMIT = 5
MAX_PENDING = 3


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    """Two BFFs and two authorization servers; 127.0.0.1 is a trusted proxy, so a test can
    speak for other client addresses with ``X-Forwarded-For``."""
    with stack_running(redis_server.url, redis_server.url, bff_count=2, authserver_count=2,
                       bff_env={"BFF_TRUSTED_PROXIES": "127.0.0.1/32",
                                "BFF_LOGIN_RATE_LIMIT": str(RATE_LIMIT),
                                "BFF_MAX_PENDING_LOGINS": str(MAX_PENDING)}) as stack:
        yield stack


def test_log_in_on_one_instance_use_and_log_out_on_the_other(stack: Stack,
                                                             redis_server: RedisServer) -> None:
    first, second = (bff.url for bff in stack.bffs)
    browser = requests.Session()
    log_in(browser, first, "alice", "wonderland")
    assert browser.get(f"{second}/api/orders", headers=XHR).status_code == 200
    assert browser.get(f"{second}/bff/user", headers=XHR).json()["name"] == "Alice Liddell"
    cookie = session_cookie(browser)
    assert browser.post(f"{second}/bff/logout", headers=XHR).status_code == 200
    assert session_record(redis_server.client(), cookie) is None
    gone = requests.get(f"{first}/bff/user", headers=XHR, cookies={"bff": cookie})
    assert gone.status_code == 401
    assert gone.json()["error"] == "login_required"
    assert stack.balancer is not None
    assert set(stack.balancer.served) == {server.url for server in stack.authservers}


def test_login_started_on_one_instance_completes_on_the_other(stack: Stack) -> None:
    second = stack.bffs[1].url
    browser = requests.Session()
    landing = log_in(browser, second, "bob", "builder")
    assert landing.url == f"{stack.bff_url}/"
    assert browser.get(f"{second}/bff/user", headers=XHR).json()["sub"]


def test_refresh_storm_split_across_instances_makes_one_grant(
        stack: Stack, redis_server: RedisServer) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    cookie = session_cookie(browser)
    urls = [bff.url for bff in stack.bffs]
    grants = sum(metric(url, "bff_token_refreshes_total") for url in urls)
    make_refresh_due(redis_server.client(), session_cookie(browser))
    version = session_record(redis_server.client(), cookie)["v"]

    start = threading.Barrier(16)
    statuses: list[int] = []

    def call(url: str) -> None:
        start.wait()
        response = requests.get(f"{url}/api/orders", headers=XHR, cookies={"bff": cookie},
                                timeout=60)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call, args=(urls[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 16
    assert sum(metric(url, "bff_token_refreshes_total") for url in urls) == grants + 1
    assert session_record(redis_server.client(), cookie)["v"] == version + 1


def test_login_rate_limit_per_address_is_shared_by_instances(stack: Stack) -> None:
    address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    urls = [bff.url for bff in stack.bffs]
    statuses = []
    for i in range(2 * RATE_LIMIT):
        response = requests.get(f"{urls[i % 2]}/bff/login", allow_redirects=False,
                                headers={"X-Forwarded-For": address, "Accept": "text/html"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert "too_many_requests" in response.text
            assert "<html" in response.text
    assert statuses[:RATE_LIMIT] == [302] * RATE_LIMIT
    assert statuses[RATE_LIMIT:] == [429] * RATE_LIMIT
    assert sum(metric(url, "bff_rate_limited_total", limit="login_per_address")
               for url in urls) >= RATE_LIMIT
    other = requests.get(f"{urls[0]}/bff/login", allow_redirects=False,
                         headers={"X-Forwarded-For": "198.19.0.1"})
    assert other.status_code == 302


def test_one_browser_cannot_pile_up_pending_logins(stack: Stack) -> None:
    browser = requests.Session()
    urls = [bff.url for bff in stack.bffs]
    first = browser.get(f"{urls[0]}/bff/login", allow_redirects=False)
    assert first.status_code == 302 and browser.cookies.get("bff_login")
    statuses = [browser.get(f"{urls[i % 2]}/bff/login", allow_redirects=False,
                            headers=XHR).status_code for i in range(MAX_PENDING + 1)]
    assert statuses == [302] * MAX_PENDING + [429]
    refused = browser.get(f"{urls[1]}/bff/login", allow_redirects=False, headers=XHR)
    assert refused.json()["error"] == "too_many_requests"
    other_browser = requests.Session()
    assert other_browser.get(f"{urls[1]}/bff/login", allow_redirects=False).status_code == 302
