"""What an operator sees: request ids end to end, Prometheus series, JSON logs, and never a token
or a cookie value in a metric or a log line."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import pytest
import requests

from bff.sansio.keyspace import session_handle
from bff.sealing import Sealer
from bff.settings import decode_secret_key
from tests.integration.scale_support import (
    Stack,
    Upstream,
    make_refresh_due,
    metric,
    session_cookie,
    session_record,
    stack_running,
)
from tests.support import XHR, RedisServer, log_in


@pytest.fixture(scope="module")
def echo() -> Iterator[Upstream]:
    upstream = Upstream()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, echo: Upstream) -> Iterator[Stack]:
    routes = f"""
[[routes]]
prefix = "/api/echo"
upstream = "{echo.url}/echo"
token = "user-or-none"
"""
    with stack_running(redis_server.url, redis_server.url, extra_routes=routes,
                       bff_env={"BFF_LOG_FORMAT": "json"}) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(stack: Stack) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    return browser


def echoed(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return response.json()["headers"]


def test_request_id_is_passed_upstream_and_returned(stack: Stack, browser: requests.Session
                                                    ) -> None:
    given = browser.get(f"{stack.bff_url}/api/echo/a", headers={**XHR, "X-Request-ID": "req-42.a"})
    assert given.headers["X-Request-ID"] == "req-42.a"
    assert echoed(given)["X-Request-ID"] == "req-42.a"

    made = browser.get(f"{stack.bff_url}/api/echo/b", headers=XHR)
    assert len(made.headers["X-Request-ID"]) == 16
    assert echoed(made)["X-Request-ID"] == made.headers["X-Request-ID"]

    forged = browser.get(f"{stack.bff_url}/api/echo/c",
                         headers={**XHR, "X-Request-ID": "x" * 65})
    assert forged.headers["X-Request-ID"] != "x" * 65
    assert echoed(forged)["X-Request-ID"] == forged.headers["X-Request-ID"]
    assert requests.get(f"{stack.bff_url}/healthz").headers["X-Request-ID"]


def test_metrics_expose_the_expected_series(stack: Stack, redis_server: RedisServer) -> None:
    user = requests.Session()
    log_in(user, stack.bff_url, "alice", "wonderland")
    assert user.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    make_refresh_due(redis_server.client(), session_cookie(user))
    assert user.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    assert user.post(f"{stack.bff_url}/bff/logout", headers=XHR).status_code == 200
    assert requests.get(f"{stack.bff_url}/no/such/page").status_code == 404

    scrape = requests.get(f"{stack.bff_url}/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["Content-Type"].startswith("text/plain")
    url = stack.bff_url
    assert metric(url, "bff_requests_total", route="/api/orders", method="GET",
                  status="200") >= 2
    assert metric(url, "bff_request_duration_seconds_count", route="/api/orders",
                  method="GET") >= 2
    assert metric(url, "bff_requests_total", route="/bff/callback", status="302") >= 1
    assert metric(url, "bff_requests_total", route="unmatched", status="404") >= 1
    assert metric(url, "bff_upstream_duration_seconds_count", route="/api/orders",
                  outcome="answered") >= 2
    assert metric(url, "bff_token_refreshes_total", outcome="refreshed") >= 1
    assert metric(url, "bff_logins_total", outcome="success") >= 1
    assert metric(url, "bff_logouts_total", kind="user") >= 1
    for family in ("bff_refresh_lock_wait_seconds", "bff_refresh_lock_timeouts_total",
                   "bff_redis_errors_total", "bff_rate_limited_total"):
        assert f"# HELP {family} " in scrape.text
    assert "/no/such/page" not in scrape.text


def test_logs_are_json_with_request_ids_and_never_show_secrets(
        stack: Stack, browser: requests.Session, redis_server: RedisServer) -> None:
    cookie = session_cookie(browser)
    bearer = echoed(browser.get(f"{stack.bff_url}/api/echo/t", headers={
        **XHR, "X-Request-ID": "log-check-1"}))["Authorization"]
    access_token = bearer.removeprefix("Bearer ")
    make_refresh_due(redis_server.client(), session_cookie(browser))
    assert browser.get(f"{stack.bff_url}/api/orders", headers=XHR).status_code == 200
    record = session_record(redis_server.client(), browser)
    sealer = Sealer((decode_secret_key(stack.secret_key),))
    tokens = json.loads(zlib.decompress(sealer.open(record["tok"],
                                                    f"{session_handle(cookie)}:tokens")))
    requests.get(f"{stack.bff_url}/bff/callback",
                 params={"code": "secret-code-123456", "state": "s"},
                 headers={"Cookie": f"bff={cookie}"})
    requests.get(f"{stack.bff_url}/healthz", headers={"Authorization": f"Bearer {access_token}"})

    log = stack.bff.log()
    for secret in (cookie, access_token, tokens["a"], tokens["r"],
                   "secret-code-123456", stack.secret_key):
        assert secret and secret not in log
    assert "eyJ" not in log

    lines = log.splitlines()
    first_json = next(i for i, line in enumerate(lines) if line.startswith("{"))
    entries = [json.loads(line) for line in lines[first_json:]]
    lines_of_request = [e for e in entries if e["request_id"] == "log-check-1"]
    assert [e["logger"] for e in lines_of_request] == ["bff.audit"], \
        "one line per proxied request: the proxy's audit line"
    echo_line = lines_of_request[0]
    assert echo_line["path"] == "/api/echo/t"
    assert echo_line["route"] == "/api/echo"
    assert echo_line["status"] == 200
    assert {"ts", "level", "message", "duration_ms", "method"} <= set(echo_line)
    access = [e for e in entries if e["logger"] == "bff.access"]
    assert any(e["path"] == "/healthz" for e in access), "other requests keep the access line"
