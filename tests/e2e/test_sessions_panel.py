"""Where you're signed in, in a real browser: alice signs in from two browser profiles; the
second sees both in the SPA's panel and signs the first out, which is then logged out."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.spa import Browsing
from tests.e2e.stacks import Stack


def test_alice_signs_her_other_browser_out_from_the_panel(
        http_stack: Stack, chromium: Browser, output_dir: Path, blank_globals: list[str]
        ) -> None:
    laptop = Browsing.open(chromium, http_stack, output_dir, "sessions-laptop", blank_globals)
    phone = Browsing.open(chromium, http_stack, output_dir, "sessions-phone", blank_globals)
    try:
        for browsing in (phone, laptop):
            browsing.visit_spa()
            browsing.log_in("alice", "wonderland")
        devices = laptop.page.get_by_test_id("device")
        expect(devices.filter(has_text="(this browser)")).to_have_count(1)
        others = laptop.page.get_by_test_id("end-session-button")
        expect(others).not_to_have_count(0)
        count = others.count()
        laptop.screenshot("sessions-panel")
        # Newest first: the row after this browser's is the phone, signed in just before.
        # Only it is ended, so other tests' sessions of alice on this stack are left alone.
        expect(devices.first).to_contain_text("(this browser)")
        others.first.click()
        expect(laptop.page.get_by_test_id("end-session-button")).to_have_count(count - 1)

        phone.visit_spa()
        expect(phone.page.get_by_test_id("anonymous-view")).to_be_visible()
        laptop.visit_spa()
        expect(laptop.page.get_by_test_id("user-view")).to_be_visible()
    finally:
        laptop.close()
        phone.close()
