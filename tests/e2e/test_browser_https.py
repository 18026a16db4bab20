"""The https pass: the BFF under gunicorn with TLS (a certificate made by the tests), access
tokens that live a few seconds, and the SPA working on through a transparent refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import SHORT_ACCESS_TOKEN_LIFETIME
from tests.e2e.reach import find_leaks
from tests.e2e.spa import Browsing, Step
from tests.e2e.stacks import Stack
from tests.support import XHR


@dataclass
class HttpsJourney:
    steps: list[Step] = field(default_factory=list, repr=False)
    network: dict[str, str] = field(default_factory=dict, repr=False)
    facts: dict[str, Any] = field(default_factory=dict, repr=False)


def wait_until_expired(expires_at: float) -> None:
    """Let an access token really expire (the stack's lifetime is a few seconds)."""
    remaining = expires_at - time.time()
    if remaining > SHORT_ACCESS_TOKEN_LIFETIME + 5:
        raise AssertionError(f"the access token lives {remaining:.0f}s: the short lifetime "
                             "setting did not reach the authorization server")
    time.sleep(max(0.0, remaining) + 1.0)


@pytest.fixture(scope="module")
def https_journey(https_stack: Stack, chromium: Browser, output_dir: Path,
                  blank_globals: list[str]
                  ) -> Iterator[HttpsJourney]:
    result = HttpsJourney()
    facts = result.facts
    browsing = Browsing.open(chromium, https_stack, output_dir, "journey-https",
                             blank_globals)
    try:
        browsing.visit_spa()
        browsing.observe("anonymous visit over https")
        browsing.log_in("alice", "wonderland")
        cookie = browsing.session_cookie()
        facts["cookie"] = cookie
        facts["cookies"] = browsing.context.cookies()
        browsing.observe("alice signed in over https")

        before = https_stack.session_for(cookie["value"])
        facts["before"] = before
        wait_until_expired(before.tokens.access_expires_at)
        browsing.observe("alice's access token has expired")

        facts["spa_called_again_at"] = time.time()
        browsing.page.locator("#refresh-button").click()
        browsing.wait_until_settled()
        browsing.add_order("Teacup after refresh", 1)
        facts["error_shown"] = browsing.page.locator("#error-message").is_visible()
        facts["items"] = browsing.order_items()
        facts["after"] = https_stack.session_for(cookie["value"])
        facts["user_status"] = browsing.spa_fetch("/bff/user")["status"]
        browsing.screenshot("06-https-after-refresh")
        browsing.observe("after a transparent refresh")

        browsing.log_out()
        facts["session_after_logout"] = https_stack.has_session(cookie["value"])
        browsing.observe("alice logged out over https")
    finally:
        result.steps = browsing.steps
        result.network = browsing.close()
    yield result


def test_session_cookie_over_https_is_host_prefixed_secure_httponly_samesite_path_root(
        https_journey: HttpsJourney) -> None:
    cookie = https_journey.facts["cookie"]
    assert cookie["name"] == "__Host-bff"
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "localhost", "__Host- cookies are host-only"
    assert all(c["httpOnly"] for c in https_journey.facts["cookies"])


def test_the_access_token_had_expired_when_the_spa_called_again(
        https_journey: HttpsJourney) -> None:
    """Its own `exp` claim says so (read, not validated: the BFF's record could be wrong)."""
    old_token = https_journey.facts["before"].tokens.access_token
    claims = jwt.decode(old_token, options={"verify_signature": False})
    assert claims["exp"] <= https_journey.facts["spa_called_again_at"]
    assert claims["exp"] - claims["iat"] == SHORT_ACCESS_TOKEN_LIFETIME


def test_spa_keeps_working_through_a_transparent_refresh(https_journey: HttpsJourney) -> None:
    facts = https_journey.facts
    before, after = facts["before"].tokens, facts["after"].tokens
    # The SPA's routes name resources (RFC 8707): their tokens are the ones the calls renewed.
    assert before.resources, "the first page load fetched the routes' tokens"
    for resource, held in before.resources.items():
        assert after.resources[resource].access_token != held.access_token, resource
        assert after.resources[resource].expires_at > held.expires_at, resource
    assert after.refresh_token != before.refresh_token, "the provider rotates refresh tokens"
    assert "Teacup after refresh" in facts["items"]
    assert facts["error_shown"] is False
    assert facts["user_status"] == 200
    assert facts["session_after_logout"] is False


def test_no_token_reaches_javascript_over_https(https_journey: HttpsJourney,
                                                https_stack: Stack) -> None:
    assert len(https_stack.ledger.tokens) >= 4, "two access and two refresh tokens"
    leaks = [f"{step.name}: {leak}" for step in https_journey.steps
             for leak in find_leaks(step.surfaces, https_stack.ledger.tokens)]
    assert leaks == []
    assert [str(leak) for leak in find_leaks(https_journey.network,
                                             https_stack.ledger.tokens)] == []


def test_gunicorn_and_provider_logs_hold_no_token(https_journey: HttpsJourney,
                                                  https_stack: Stack) -> None:
    logs = https_stack.logs()
    assert '"GET /bff/user HTTP/1.1" 200' in logs, "gunicorn's access log is in the search"
    assert [str(leak) for leak in find_leaks({"logs": logs}, https_stack.ledger.tokens)] == []


def test_https_bff_sends_no_store_on_bff_endpoints(https_stack: Stack) -> None:
    response = requests.get(f"{https_stack.bff_url}/bff/user", headers=XHR, timeout=10,
                            verify=str(https_stack.ca_bundle))
    assert response.status_code == 401
    assert response.headers["Cache-Control"] == "no-store"
