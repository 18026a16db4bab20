"""The leak search is not blind: a real token planted in each surface is found there.

Without this, "no token found" could mean the collector never looked. One browser profile
plants the BFF's own tokens (read from its store) everywhere a careless SPA might keep them,
and the search must name each surface.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser

from bff.sessions import Session
from tests.e2e.reach import Leak, find_leaks
from tests.e2e.spa import Browsing
from tests.e2e.stacks import Stack
from tests.support import log_in

FOREIGN_JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl"

PLANTS = {
    "document.cookie": "(t) => { document.cookie = `planted=${t}; path=/`; }",
    "localStorage": "(t) => localStorage.setItem('planted', t)",
    "sessionStorage": "(t) => sessionStorage.setItem('planted', t)",
    "IndexedDB": """(t) => new Promise((resolve, reject) => {
        const open = indexedDB.open('planted');
        open.onupgradeneeded = () => open.result.createObjectStore('tokens');
        open.onsuccess = () => {
          const tx = open.result.transaction('tokens', 'readwrite');
          tx.objectStore('tokens').put({token: t}, 'access');
          tx.oncomplete = () => { open.result.close(); resolve(); };
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      })""",
    "Cache API": """async (t) => {
        const cache = await caches.open('planted');
        await cache.put('/planted', new Response(t));
      }""",
    "window globals": "(t) => { window.appState = {session: {token: t}}; }",
    "DOM": """(t) => {
        const p = document.createElement('p');
        p.hidden = true;
        p.textContent = t;
        document.body.append(p);
      }""",
    "page URL": "(t) => history.replaceState(null, '', '/#' + t)",
    "tab history": "(t) => history.pushState(null, '', '/callback?access_token=' + t)",
    "window.name and history.state": "(t) => { window.name = t; }",
    "JS heap": """(t) => {
        const kept = [...t].join('');
        window.addEventListener('planted', () => kept);
      }""",
    # A resource timing entry is added once the body has been read, a moment later.
    "performance entries": """async (t) => {
        const url = new URL('/favicon.svg?token=' + t, location.href).href;
        await (await fetch(url)).text();
        for (let i = 0; i < 100 && !performance.getEntriesByName(url).length; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }""",
}


@pytest.fixture(scope="module")
def planted_session(http_stack: Stack) -> Session:
    """A real login (scripted browser), and its tokens as the BFF holds them."""
    browser = requests.Session()
    log_in(browser, http_stack.bff_url, "alice", "wonderland")
    return http_stack.session_for(browser.cookies["bff"])


@pytest.fixture(scope="module")
def surfaces(http_stack: Stack, chromium: Browser, output_dir: Path, blank_globals: list[str],
             planted_session: Session) -> dict[str, str]:
    """Every surface of one profile in which the tokens were planted, network included."""
    tokens = planted_session.tokens
    browsing = Browsing.open(chromium, http_stack, output_dir, "leak-detector", blank_globals)
    try:
        browsing.visit_spa()
        for plant in PLANTS.values():
            browsing.page.evaluate(plant, tokens.access_token)
        browsing.page.evaluate("(t) => localStorage.setItem('refresh', t)", tokens.refresh_token)
        browsing.page.evaluate("(t) => sessionStorage.setItem('other', t)", FOREIGN_JWT)
        browsing.page.route("**/planted-response", lambda route: route.fulfill(
            status=200, content_type="application/json",
            body=f'{{"token": "{tokens.access_token}"}}'))
        browsing.page.evaluate("""async (t) => {
            await fetch('/api/orders?id_token=' + t, {headers: {'X-CSRF': '1'}});
            await (await fetch('/planted-response')).text();
          }""", tokens.access_token)
        step = browsing.observe("after planting")
    finally:
        network = browsing.close()
    return {**step.surfaces, **network}


def reported(leaks: list[Leak]) -> set[str]:
    return {leak.surface for leak in leaks}


@pytest.mark.parametrize("surface", sorted(PLANTS))
def test_access_token_planted_in_a_surface_is_found_there(
        surface: str, surfaces: dict[str, str], planted_session: Session) -> None:
    assert surface in reported(find_leaks(surfaces, {planted_session.tokens.access_token}))


def test_refresh_token_planted_in_local_storage_is_found(
        surfaces: dict[str, str], planted_session: Session) -> None:
    token = planted_session.tokens.refresh_token
    assert token and token.count(".") != 2, "an opaque token, found by value not by shape"
    assert "localStorage" in reported(find_leaks(surfaces, {token}))


def test_any_jwt_shaped_string_is_found_even_one_the_bff_never_issued(
        surfaces: dict[str, str]) -> None:
    leaks = find_leaks(surfaces, set())
    assert any(leak.surface == "sessionStorage" and FOREIGN_JWT[:24] in leak.what
               for leak in leaks)


def test_token_in_a_request_url_or_response_body_is_found_in_the_network_record(
        surfaces: dict[str, str], planted_session: Session) -> None:
    found = reported(find_leaks(surfaces, {planted_session.tokens.access_token}))
    assert any(s.startswith("request URL GET") and "/api/orders" in s for s in found)
    assert any(s.startswith("response body GET") and "/planted-response" in s for s in found)
