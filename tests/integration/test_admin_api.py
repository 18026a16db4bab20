"""The operators' HTTP API: off unless configured; with its bearer token, a user's sessions are
listed and ended (refresh tokens revoked), another user's are not; without it, 401 with no
detail, counted; a browser's cookie is no credential here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bff.admin import new_admin_token
from tests.integration.session_support import KnownStack, bff_cookie, start_instance
from tests.support import XHR, BffProcess, log_in

TOKEN, DIGEST = new_admin_token()


@pytest.fixture(scope="module")
def admin_bff(stack: KnownStack) -> Iterator[BffProcess]:
    """A second BFF on the stack's Redis, with the admin API on."""
    process = start_instance(stack, stack.keys, env={"BFF_ADMIN_TOKEN_SHA256": DIGEST})
    try:
        yield process
    finally:
        process.stop()


def admin(method: str, url: str, token: str | None = TOKEN, **kwargs: object
          ) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def signed_in(stack: KnownStack, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, username, password)
    return browser


def test_the_admin_api_is_off_unless_configured(stack: KnownStack) -> None:
    assert admin("GET", f"{stack.bff_url}/bff/admin/users/alice/sessions").status_code == 404


def test_without_or_with_a_wrong_token_it_is_401_with_no_detail_and_counted(
        stack: KnownStack, admin_bff: BffProcess) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    url = f"{admin_bff.url}/bff/admin/users/alice/sessions"
    answers = [admin("GET", url, token=None), admin("GET", url, token="wrong"),
               admin("DELETE", url, token=TOKEN[:-1]),
               requests.get(url, headers=XHR, cookies={"bff": bff_cookie(alice) or ""})]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized", "error_description": "Unauthorized"}
    metrics = requests.get(f"{admin_bff.url}/metrics", timeout=10).text
    assert "bff_admin_denied_total 4.0" in metrics
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_an_operator_lists_and_ends_a_users_sessions_and_not_anyone_elses(
        stack: KnownStack, admin_bff: BffProcess) -> None:
    laptop = signed_in(stack, "alice", "wonderland")
    phone = signed_in(stack, "alice", "wonderland")
    bob = signed_in(stack, "bob", "builder")
    refresh = [s.tokens.refresh_token for s in (stack.session(laptop), stack.session(phone))
               if s is not None]
    listed = admin("GET", f"{admin_bff.url}/bff/admin/users/alice/sessions")
    assert listed.status_code == 200 and len(listed.json()["sessions"]) >= 2
    assert listed.headers["Cache-Control"] == "no-store"
    assert "eyJ" not in listed.text
    one = listed.json()["sessions"][0]["id"]
    assert admin("DELETE", f"{admin_bff.url}/bff/admin/users/bob/sessions/{one}"
                 ).status_code == 404
    ended = admin("DELETE", f"{admin_bff.url}/bff/admin/users/alice/sessions")
    assert ended.status_code == 200 and ended.json()["ended"] >= 2
    for browser in (laptop, phone):
        assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    assert all(stack.introspect(t)["active"] is False for t in refresh if t)
    assert bob.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    log = admin_bff.log()
    assert "admin action=revoke sub=alice" in log and f"actor=admin-token:{DIGEST[:8]}" in log
    assert TOKEN not in log
