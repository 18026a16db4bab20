"""Another origin tries to act as alice from her own browser, and is refused.

Two attacker origins: ``127.0.0.1`` (another site: SameSite keeps the cookie home on POSTs) and
``localhost`` on another port (the same site, so the browser does send the cookie: only the
BFF's anti-forgery checks stand in the way). After every attempt alice's session is intact
and no order was forged.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.spa import Browsing
from tests.e2e.stacks import Stack
from tests.support import free_port

FORGED_ITEM = "Forged by another site"

_FETCH_JS = """async ([url, withHeader, item]) => {
  const init = {method: "POST", credentials: "include",
                body: JSON.stringify({item, quantity: 1})};
  if (withHeader) {
    init.headers = {"X-CSRF": "1", "Content-Type": "application/json"};
  } else {
    init.mode = "no-cors";
    init.headers = {"Content-Type": "text/plain"};
  }
  try {
    const response = await fetch(url, init);
    return `readable ${response.status}`;
  } catch (error) {
    return `blocked ${error.name}`;
  }
}"""

_FORM_JS = """([url, field]) => {
  const form = document.createElement("form");
  form.method = "POST";
  form.action = url;
  form.enctype = "text/plain";
  const input = document.createElement("input");
  input.name = field;
  input.value = "x";
  form.append(input);
  document.body.append(form);
  form.submit();
}"""


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = b"<!doctype html><title>another site</title><h1>Nothing to see here</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def attacker_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def victim(http_stack: Stack, chromium: Browser, output_dir: Path,
           blank_globals: list[str]) -> Iterator[Browsing]:
    """Alice, signed in, with the SPA open in one tab."""
    browsing = Browsing.open(chromium, http_stack, output_dir, "cross-site-victim",
                             blank_globals)
    try:
        browsing.visit_spa()
        browsing.log_in("alice", "wonderland")
        yield browsing
    finally:
        browsing.close()


@pytest.fixture(params=["127.0.0.1", "localhost"], ids=["cross-site", "same-site-other-port"])
def attacker(request: pytest.FixtureRequest, victim: Browsing, attacker_port: int
             ) -> Iterator[Page]:
    """A page of another origin, in alice's browser (same cookie jar)."""
    page = victim.context.new_page()
    page.goto(f"http://{request.param}:{attacker_port}/")
    try:
        yield page
    finally:
        page.close()


def assert_alice_unharmed(victim: Browsing) -> None:
    cookie = victim.session_cookie()
    assert cookie is not None, "alice's session cookie was removed"
    assert victim.stack.has_session(cookie["value"]), "alice's session was ended"
    user = victim.spa_fetch("/bff/user")
    assert user["status"] == 200, user
    orders = victim.spa_fetch("/api/orders")
    assert orders["status"] == 200, orders
    assert FORGED_ITEM not in [o["item"] for o in json.loads(orders["body"])["orders"]]


def forged_fetch(attacker: Page, url: str) -> tuple[str, str]:
    """A fetch without the header (the answer is unreadable to the attacker anyway), then one
    with it (which needs a CORS preflight). Returns the Cookie header the browser put on the
    first (read through CDP: Playwright hides it on a blocked response) and how the second
    ended."""
    cdp = attacker.context.new_cdp_session(attacker)
    posts: list[str] = []
    cookies: dict[str, str] = {}
    cdp.on("Network.requestWillBeSent", lambda e: posts.append(e["requestId"]) if (
        e["request"]["url"] == url and e["request"]["method"] == "POST") else None)
    cdp.on("Network.requestWillBeSentExtraInfo", lambda e: cookies.__setitem__(
        e["requestId"], e["headers"].get("Cookie", "")))
    cdp.send("Network.enable")
    try:
        attacker.evaluate(_FETCH_JS, [url, False, FORGED_ITEM])
        with_header = attacker.evaluate(_FETCH_JS, [url, True, FORGED_ITEM])
    finally:
        cdp.detach()
    assert posts, "the forged POST was not sent"
    return cookies.get(posts[0], ""), with_header


def assert_cookie_went_only_same_site(attacker: Page, cookie_header: str) -> None:
    """Another site's POST carries no Lax cookie; a sibling port of the same site does, so
    there the refusal is the BFF's own doing."""
    same_site = attacker.url.startswith("http://localhost:")
    assert ("bff=" in cookie_header) is same_site, cookie_header[:40]


def forged_form(attacker: Page, url: str, field: str) -> int:
    with attacker.expect_navigation(url=url) as navigation:
        attacker.evaluate(_FORM_JS, [url, field])
    response = navigation.value
    assert response is not None
    return response.status


def test_cross_site_fetch_to_api_orders_is_refused(victim: Browsing, attacker: Page) -> None:
    cookie_header, with_header = forged_fetch(attacker, f"{victim.stack.bff_url}/api/orders")
    assert_cookie_went_only_same_site(attacker, cookie_header)
    assert with_header.startswith("blocked"), "no CORS may be granted to another origin"
    assert_alice_unharmed(victim)


def test_cross_site_form_post_to_api_orders_is_refused(victim: Browsing, attacker: Page,
                                                       output_dir: Path) -> None:
    field = json.dumps({"item": FORGED_ITEM, "quantity": 1})[:-1] + ', "x": "'
    status = forged_form(attacker, f"{victim.stack.bff_url}/api/orders", field)
    assert status in (401, 403)
    attacker.screenshot(path=str(output_dir / "screenshots" / "07-cross-site-form-refused.png"))
    assert_alice_unharmed(victim)


def test_cross_site_fetch_to_bff_logout_is_refused(victim: Browsing, attacker: Page) -> None:
    cookie_header, with_header = forged_fetch(attacker, f"{victim.stack.bff_url}/bff/logout")
    assert_cookie_went_only_same_site(attacker, cookie_header)
    assert with_header.startswith("blocked"), "no CORS may be granted to another origin"
    assert_alice_unharmed(victim)


def test_cross_site_form_post_to_bff_logout_is_refused(victim: Browsing, attacker: Page) -> None:
    status = forged_form(attacker, f"{victim.stack.bff_url}/bff/logout", "logout")
    assert status in (401, 403)
    assert_alice_unharmed(victim)


def test_cross_site_logout_link_is_refused(victim: Browsing, attacker: Page) -> None:
    """A plain link to GET /bff/logout: top-level navigations carry a Lax cookie, so only the
    per-session value in the real logout_url protects alice."""
    with attacker.expect_navigation() as navigation:
        attacker.evaluate("(url) => { location.href = url; }",
                          f"{victim.stack.bff_url}/bff/logout")
    response = navigation.value
    assert response is not None and response.status == 403
    assert_alice_unharmed(victim)
