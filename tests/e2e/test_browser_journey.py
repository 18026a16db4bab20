"""Alice and Bob use the demo SPA in Chromium (`bff demo` over http), and no token reaches
JavaScript at any step: not in a surface a script can read, not on the wire the page saw,
not in the BFF's logs, not in a Redis dump."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.reach import JWT_SHAPE, find_leaks
from tests.e2e.spa import Browsing, Step
from tests.e2e.stacks import Stack


@dataclass
class Journey:
    steps: list[Step] = field(default_factory=list, repr=False)
    network: dict[str, str] = field(default_factory=dict, repr=False)
    facts: dict[str, Any] = field(default_factory=dict, repr=False)
    cookies: list[dict[str, Any]] = field(default_factory=list, repr=False)


@pytest.fixture(scope="module")
def journey(http_stack: Stack, chromium: Browser, output_dir: Path,
            blank_globals: list[str]) -> Iterator[Journey]:
    """Anonymous visit, alice logs in, adds an order, reloads, logs out; then bob logs in."""
    result = Journey()
    facts = result.facts
    browsing = Browsing.open(chromium, http_stack, output_dir, "journey-http",
                             blank_globals)
    try:
        browsing.visit_spa()
        facts["anonymous_login_button"] = browsing.page.locator("#login-button").is_visible()
        browsing.screenshot("01-anonymous")
        browsing.observe("anonymous visit")

        browsing.log_in("alice", "wonderland", screenshot="02-provider-login")
        facts["alice_name"] = browsing.text("#user-name")
        facts["alice_cookie"] = browsing.session_cookie()
        result.cookies = browsing.context.cookies()
        browsing.observe("alice signed in")

        item = f"Blue teapot {secrets.token_hex(3)}"
        facts["alice_item"] = item
        browsing.add_order(item, 2)
        browsing.observe("alice added an order")

        browsing.page.reload()
        browsing.wait_until_settled()
        facts["alice_items_after_reload"] = browsing.order_items()
        facts["alice_sees_stock"] = browsing.page.locator("#stock-header").is_visible()
        browsing.screenshot("03-alice-orders")
        browsing.observe("alice reloaded the page")

        browsing.log_out()
        facts["after_logout_login_button"] = browsing.page.locator("#login-button").is_visible()
        facts["after_logout_cookie"] = browsing.session_cookie()
        facts["after_logout_user_status"] = browsing.spa_fetch("/bff/user")["status"]
        facts["alice_session_on_server"] = http_stack.has_session(
            facts["alice_cookie"]["value"])
        browsing.screenshot("04-logged-out")
        browsing.observe("alice logged out")

        browsing.log_in("bob", "builder")
        facts["bob_name"] = browsing.text("#user-name")
        facts["bob_items"] = browsing.order_items()
        facts["bob_sees_stock"] = browsing.page.locator("#stock-header").is_visible()
        expect(browsing.page.locator("#empty-orders")).to_be_visible()
        expect(browsing.page.locator("#write-denied")).to_be_visible()
        facts["bob_can_add"] = browsing.page.locator("#add-order-button").is_enabled()
        facts["bob_cookie"] = browsing.session_cookie()
        browsing.screenshot("05-bob-read-only")
        browsing.observe("bob signed in")
        facts["redis_dump"] = http_stack.redis_dump()
        facts["bob_session"] = http_stack.session_for(facts["bob_cookie"]["value"])

        logout_url = json.loads(browsing.spa_fetch("/bff/user")["body"])["logout_url"]
        browsing.follow_link(logout_url)
        facts["bob_session_after_link"] = http_stack.has_session(facts["bob_cookie"]["value"])
        browsing.observe("bob logged out through the logout link")
    finally:
        result.steps = browsing.steps
        result.network = browsing.close()
    yield result


def test_alice_logs_in_sees_her_orders_adds_one_and_logs_out(journey: Journey) -> None:
    facts = journey.facts
    assert facts["anonymous_login_button"]
    assert facts["alice_name"] == "Alice Liddell"
    assert facts["alice_item"] in facts["alice_items_after_reload"]
    assert facts["alice_sees_stock"], "alice holds the stock-viewer role"
    assert facts["after_logout_login_button"]
    assert facts["after_logout_cookie"] is None
    assert facts["after_logout_user_status"] == 401
    assert facts["alice_session_on_server"] is False


def test_second_login_as_bob_shows_only_bobs_orders_read_only(journey: Journey) -> None:
    facts = journey.facts
    assert facts["bob_name"] == "Bob the Builder"
    assert facts["alice_item"] not in facts["bob_items"]
    assert facts["bob_can_add"] is False
    assert facts["bob_sees_stock"] is False, "bob lacks the stock-viewer role"
    assert facts["bob_cookie"]["value"] != facts["alice_cookie"]["value"]
    assert facts["bob_session_after_link"] is False, "the logout_url link ends the session"


def test_the_leak_search_compares_against_tokens_from_the_bff_server_side(
        journey: Journey, http_stack: Stack) -> None:
    """Not vacuous: both users' real access and refresh tokens are in the ledger (the BFF keeps
    no ID token after login; any JWT-shaped string is searched for too), and the
    surfaces searched hold what the SPA really received."""
    tokens = http_stack.ledger.tokens
    jwts = [t for t in tokens if JWT_SHAPE.fullmatch(t)]
    opaque = [t for t in tokens if not JWT_SHAPE.fullmatch(t)]
    assert len(jwts) >= 2, "alice's and bob's access tokens"
    assert len(opaque) >= 2, "alice's and bob's refresh tokens"
    signed_in = next(s for s in journey.steps if s.name == "alice added an order")
    assert journey.facts["alice_item"] in signed_in.surfaces["DOM"]
    assert "Alice Liddell" in signed_in.surfaces["DOM"]
    user_bodies = [text for label, text in journey.network.items()
                   if label.startswith("response body GET") and "/bff/user" in label]
    assert any('"name":"Alice Liddell"' in body for body in user_bodies)
    assert any('"name":"Bob the Builder"' in body for body in user_bodies)


def test_no_token_reaches_javascript_at_any_step(journey: Journey, http_stack: Stack) -> None:
    assert [s.name for s in journey.steps] == [
        "anonymous visit", "alice signed in", "alice added an order", "alice reloaded the page",
        "alice logged out", "bob signed in", "bob logged out through the logout link"]
    leaks = [f"{step.name}: {leak}" for step in journey.steps
             for leak in find_leaks(step.surfaces, http_stack.ledger.tokens)]
    assert leaks == []


def test_no_token_in_any_response_request_or_url_the_page_saw(
        journey: Journey, http_stack: Stack) -> None:
    assert any(label.startswith("response body POST") and "/api/orders" in label
               for label in journey.network)
    assert [str(leak) for leak in find_leaks(journey.network, http_stack.ledger.tokens)] == []


def test_every_cookie_in_the_browser_is_httponly_and_the_session_cookie_is_samesite(
        journey: Journey) -> None:
    """Plain-http development: the cookie is `bff` (`__Host-` needs https; see the https pass)."""
    session = journey.facts["alice_cookie"]
    assert session["name"] == "bff"
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["expires"] == -1, "a browser-session cookie; the server decides its life"
    assert session["domain"] == "localhost", "host-only, no Domain attribute"
    assert all(cookie["httpOnly"] for cookie in journey.cookies), journey.cookies
    assert all(step.surfaces["document.cookie"] == "" for step in journey.steps)


def test_bff_logs_hold_none_of_the_tokens_issued_in_the_run(
        journey: Journey, http_stack: Stack) -> None:
    logs = http_stack.logs()
    assert "login sub=alice" in logs and "login sub=bob" in logs
    assert [str(leak) for leak in find_leaks({"logs": logs}, http_stack.ledger.tokens)] == []


def test_redis_dump_holds_none_of_the_tokens_issued_in_the_run(
        journey: Journey, http_stack: Stack) -> None:
    """Redis's own RDB file, written while bob was signed in."""
    dump, bob = journey.facts["redis_dump"], journey.facts["bob_session"]
    assert f"bff:{{{bob.handle}}}:session".encode() in dump, "the dump holds bob's live session"
    assert bob.tokens.access_token in http_stack.ledger.tokens
    text = dump.decode("latin-1")
    assert [str(leak) for leak in find_leaks({"Redis dump": text}, http_stack.ledger.tokens)
            ] == []
    cookie_values = [journey.facts["bob_cookie"]["value"], journey.facts["alice_cookie"]["value"]]
    assert not any(value in text for value in cookie_values), "no cookie to replay in a dump"
