"""A person using the demo SPA in a real browser, with what JavaScript could read at each step.

The element ids are the SPA's stable test ids (frontend/index.html); the provider's login form
has ``username`` and ``password`` fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.reach import har_surfaces, page_surfaces
from tests.e2e.stacks import Stack

TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Step:
    """What a script on the page could read after one thing the user did."""

    name: str
    surfaces: dict[str, str]


@dataclass
class Browsing:
    """One browser profile (context) on one stack; closing it writes the HAR of everything."""

    stack: Stack
    context: BrowserContext
    page: Page
    har_path: Path
    screenshot_dir: Path
    baseline: list[str]
    steps: list[Step] = field(default_factory=list)
    closed: bool = False

    @classmethod
    def open(cls, browser: Browser, stack: Stack, output_dir: Path, name: str,
             baseline: list[str]) -> Browsing:
        har_path = output_dir / "har" / f"{name}.har"
        context = browser.new_context(
            record_har_path=str(har_path), record_har_content="embed",
            ignore_https_errors=stack.bff_url.startswith("https://"),
            viewport={"width": 1280, "height": 860},
        )
        context.set_default_timeout(TIMEOUT_MS)
        return cls(stack=stack, context=context, page=context.new_page(), har_path=har_path,
                   screenshot_dir=output_dir / "screenshots", baseline=baseline)

    # -- what the user does -------------------------------------------------------------
    def visit_spa(self) -> None:
        self.page.goto(f"{self.stack.bff_url}/")
        self.wait_until_settled()

    def log_in(self, username: str, password: str, screenshot: str | None = None) -> None:
        """Click the SPA's login button, sign in on the provider's form, land back."""
        self.page.locator("#login-button").click()
        self.page.wait_for_url(f"{self.stack.issuer}/**")
        expect(self.page.locator("input[name=username]")).to_be_visible()
        if screenshot:
            self.screenshot(screenshot)
        self.page.locator("input[name=username]").fill(username)
        self.page.locator("input[name=password]").fill(password)
        self.page.locator("input[name=password]").press("Enter")
        self.page.wait_for_url(f"{self.stack.bff_url}/**")
        expect(self.page.locator("#user-name")).to_be_visible()
        self.wait_until_settled()

    def add_order(self, item: str, quantity: int) -> None:
        self.page.locator("#order-item-input").fill(item)
        self.page.locator("#order-quantity-input").fill(str(quantity))
        self.page.locator("#add-order-button").click()
        expect(self.orders_table.get_by_role("cell", name=item, exact=True)).to_be_visible()

    def log_out(self) -> None:
        """Click log out; confirm at the provider if it asks (the reference provider does not:
        the BFF names the provider session as logout_hint), and land on the anonymous view."""
        with self.page.expect_navigation():
            self.page.locator("#logout-button").click()
        if self.page.url.startswith(self.stack.issuer):
            with self.page.expect_navigation(url=f"{self.stack.bff_url}/**"):
                self.page.get_by_role("button", name="Sign out").click()
        expect(self.page.locator("#login-button")).to_be_visible()

    def follow_link(self, path: str) -> None:
        """Navigate as a plain link would (the SPA's `logout_url` is meant for one); confirm
        at the provider if it asks, and land back on the SPA."""
        self.page.goto(f"{self.stack.bff_url}{path}")
        if self.page.url.startswith(self.stack.issuer):
            with self.page.expect_navigation(url=f"{self.stack.bff_url}/**"):
                self.page.get_by_role("button", name="Sign out").click()
        self.wait_until_settled()

    def wait_until_settled(self) -> None:
        """The SPA has decided who is here, and a signed-in view has its orders (or a reason)."""
        expect(self.page.locator("#login-button, #user-name").locator("visible=true")
               ).to_have_count(1)
        if self.page.locator("#user-name").is_visible():
            expect(self.page.locator("#orders-table, #empty-orders").locator("visible=true")
                   ).to_have_count(1)
            expect(self.page.locator("#orders-loading")).to_be_hidden()

    # -- what the page shows ------------------------------------------------------------
    @property
    def orders_table(self) -> Locator:
        return self.page.locator("#orders-table")

    def order_items(self) -> list[str]:
        if not self.orders_table.is_visible():
            return []
        return self.page.locator("#orders-body td.cell-item").all_inner_texts()

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text().strip()

    def session_cookie(self) -> dict[str, Any] | None:
        return next((c for c in self.context.cookies(self.stack.bff_url)
                     if c["name"] == self.stack.cookie_name), None)

    def record_server_tokens(self) -> None:
        """Read the signed-in session's tokens from the BFF's store into the stack's ledger."""
        cookie = self.session_cookie()
        if cookie is None:
            raise AssertionError("no session cookie in the browser after login")
        self.stack.session_for(cookie["value"])

    def spa_fetch(self, path: str, method: str = "GET") -> dict[str, Any]:
        """A same-origin call from the SPA's page, as its own scripts make them."""
        return self.page.evaluate(
            """async ([path, method]) => {
                 const r = await fetch(path, {method, headers: {"X-CSRF": "1"}});
                 return {status: r.status, body: await r.text()};
               }""", [path, method])

    # -- evidence ----------------------------------------------------------------------
    def observe(self, name: str) -> Step:
        """Collect every surface a script could read now (server tokens are read first)."""
        if self.session_cookie() is not None:
            self.record_server_tokens()
        step = Step(name=name, surfaces=page_surfaces(self.context, self.page, self.baseline))
        self.steps.append(step)
        return step

    def screenshot(self, name: str) -> Path:
        path = self.screenshot_dir / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> dict[str, str]:
        """Close the profile (once); the network as the page saw it, from the HAR."""
        if not self.closed:
            self.closed = True
            self.context.close()
        return har_surfaces(self.har_path, self.stack.bff_url)
