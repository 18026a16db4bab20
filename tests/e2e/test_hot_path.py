"""Invariant 9 as the SPA meets it: each orders call with a valid token costs the BFF one Redis
command and no call to the provider (no refresh), counted on a stack with its own Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.spa import Browsing
from tests.e2e.stacks import Stack, start_http_stack
from tests.support import RedisServer, start_redis

CLICKS = 10
HOUSEKEEPING = ("info", "client", "hello", "ping", "select", "auth", "command", "xread")
"""Connection chatter that is not a round trip of a request (redis-py sends CLIENT SETINFO),
and the demo APIs following the provider's revocation list in the same Redis (XREAD BLOCK)."""


@pytest.fixture(scope="module")
def quiet_redis() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quiet_stack(quiet_redis: RedisServer) -> Iterator[Stack]:
    """Nothing but this stack talks to its Redis, so every command counted is its own."""
    stack = start_http_stack(quiet_redis)
    try:
        yield stack
    finally:
        stack.stop()


def redis_commands(server: RedisServer) -> int:
    stats = server.client().info("commandstats")
    return sum(int(value["calls"]) for name, value in stats.items()
               if not name.removeprefix("cmdstat_").startswith(HOUSEKEEPING))


def refresh_grants(stack: Stack) -> float:
    """Refresh grants the BFF sent, from its own /metrics (the series must be exported)."""
    exposition = requests.get(f"{stack.bff_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(exposition):
        if family.name == "bff_token_refreshes":
            return sum(s.value for s in family.samples if s.name == "bff_token_refreshes_total")
    raise AssertionError("/metrics exports no bff_token_refreshes_total")


def test_each_api_call_with_a_valid_token_is_one_redis_command_and_no_refresh(
        quiet_stack: Stack, chromium: Browser, output_dir: Path, blank_globals: list[str],
        quiet_redis: RedisServer) -> None:
    browsing = Browsing.open(chromium, quiet_stack, output_dir, "hot-path", blank_globals)
    try:
        browsing.visit_spa()
        browsing.log_in("alice", "wonderland")
        # The first loads fetch the routes' resource tokens (RFC 8707): let them finish.
        browsing.wait_until_settled()
        refreshes, commands = refresh_grants(quiet_stack), redis_commands(quiet_redis)
        api_calls: list[str] = []
        browsing.page.on("response", lambda r: api_calls.append(r.url)
                         if "/api/" in r.url and r.status == 200 else None)
        for _ in range(CLICKS):
            with browsing.page.expect_response(
                    lambda r: r.url.endswith("/api/orders") and r.status == 200):
                browsing.page.locator("#refresh-button").click()
            browsing.wait_until_settled()
        # Each Refresh loads the orders and, for a stock viewer, the stock: two API calls.
        assert len(api_calls) == 2 * CLICKS, api_calls
        assert redis_commands(quiet_redis) - commands == len(api_calls)
        assert refresh_grants(quiet_stack) == refreshes
    finally:
        browsing.close()
