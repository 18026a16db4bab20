"""Login CSRF by cookie tossing, as the outside review ran it: a production-like stack (gunicorn
with TLS on ``https://app.example.test``), an attacker page on the sibling host
``evil.example.test``, and Chromium, whose ``--host-resolver-rules`` maps both names to
127.0.0.1.

The attacker starts a login of their own, signs in as bob at the provider and keeps the callback
URL; their page then tosses the binding cookie into alice's browser in every form a sibling host
can write (a Domain cookie for the narrower path /bff/callback, the unprefixed name, a
``__Host-`` name with a Domain), and navigates alice's browser to the callback. Before the fix
alice became bob and her session was deleted."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from bff.demo import render_config
from bff.settings import generate_secret_key
from tests.e2e.conftest import launch_chromium
from tests.e2e.stacks import make_self_signed_certificate, start_gunicorn_tls
from tests.support import ROOT, BffProcess, RedisServer, free_port_run, start_bff

APP_HOST, EVIL_HOST = "app.example.test", "evil.example.test"


@dataclass
class SiblingStack:
    port: int
    processes: list[BffProcess]

    @property
    def app(self) -> str:
        return f"https://{APP_HOST}:{self.port}"

    @property
    def evil(self) -> str:
        return f"https://{EVIL_HOST}:{self.port}"

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port + 1}"


@pytest.fixture(scope="module")
def sibling_stack(e2e_redis: RedisServer) -> Iterator[SiblingStack]:
    port = free_port_run(3)
    workdir = Path(tempfile.mkdtemp(prefix="bff-e2e-tossing-"))
    cert = make_self_signed_certificate(workdir, [APP_HOST, EVIL_HOST])
    app = f"https://{APP_HOST}:{port}"
    auth_config = render_config(ROOT / "config" / "authserver.toml", workdir / "as.toml", port)
    auth_config.write_text(auth_config.read_text().replace(f"http://localhost:{port}/",
                                                           f"{app}/"))
    bff_config = render_config(ROOT / "config" / "bff.toml", workdir / "bff.toml", port)
    env = {
        "BFF_REDIS_URL": e2e_redis.url, "BFF_AUTHSERVER_ISSUER": f"http://localhost:{port + 1}",
        "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys"), "REQUESTS_CA_BUNDLE": str(cert.cert_path),
        "BFF_CONFIG": str(bff_config), "BFF_BASE_URL": app,
        "BFF_ISSUER": f"http://localhost:{port + 1}", "BFF_SECRET_KEYS": generate_secret_key(),
        "BFF_FRONTEND_DIR": str(ROOT / "frontend"), "PYTHONUNBUFFERED": "1",
    }
    processes = [start_bff(["authserver", "--config", str(auth_config), "--port",
                            str(port + 1)], port + 1, env=env)]
    try:
        processes.append(start_gunicorn_tls(port, cert, env))
        yield SiblingStack(port=port, processes=processes)
    finally:
        for process in processes:
            process.stop()


@pytest.fixture(scope="module")
def resolving_chromium(playwright: Playwright) -> Iterator[Browser]:
    """Chromium that resolves the two example.test names to this machine."""
    browser = launch_chromium(
        playwright, f"--host-resolver-rules=MAP {APP_HOST} 127.0.0.1, MAP {EVIL_HOST} 127.0.0.1")
    try:
        yield browser
    finally:
        browser.close()


def sign_in_at_provider(page: Page, username: str, password: str) -> None:
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")


def user_of(page: Page, stack: SiblingStack) -> object:
    return page.evaluate("""async () => {
        const r = await fetch('/bff/user', {headers: {'X-CSRF': '1'}});
        return r.ok ? (await r.json()).sub : r.status;
    }""")


def attackers_callback(context: BrowserContext, stack: SiblingStack) -> tuple[str, str]:
    """bob's login up to the callback, which is kept, not visited; and bob's binding value."""
    page = context.new_page()
    kept: list[str] = []

    def keep_callback(route: Route) -> None:
        """The provider's answer to the signed-in form redirects to the callback: keep it."""
        answer = route.fetch(max_redirects=0)
        location = answer.headers.get("location", "")
        if "/bff/callback" in location:
            kept.append(location)
            route.fulfill(status=204)
        else:
            route.fulfill(response=answer)

    page.route(f"{stack.issuer}/authorize*", keep_callback)
    page.goto(f"{stack.app}/bff/login?returnUrl=/")
    sign_in_at_provider(page, "bob", "builder")
    for _ in range(100):
        if kept:
            break
        page.wait_for_timeout(100)
    assert kept, "the attacker's login never reached the callback"
    binding = next(c["value"] for c in context.cookies() if "bff_login" in c["name"])
    return kept[0], binding


TOSS = """([binding, callback]) => {
    const cookies = [
        `bff_login=${binding}; Domain=example.test; Path=/bff/callback; Secure; SameSite=None`,
        `bff_login=${binding}; Domain=example.test; Path=/; Secure; SameSite=None`,
        `__Host-bff_login=${binding}; Domain=example.test; Path=/; Secure`,
        `__Host-bff_login=${binding}; Path=/bff/callback; Secure`,
        `__Secure-bff_login=${binding}; Domain=example.test; Path=/bff/callback; Secure`,
        `__Host-bff=${binding}; Domain=example.test; Path=/; Secure`,
        `bff=${binding}; Domain=example.test; Path=/; Secure`,
    ];
    for (const cookie of cookies) document.cookie = cookie;
    location.href = callback;
}"""


def test_login_csrf_by_cookie_tossing_from_a_sibling_host_leaves_alice_alice(
        sibling_stack: SiblingStack, resolving_chromium: Browser) -> None:
    attacker = resolving_chromium.new_context(ignore_https_errors=True)
    victim = resolving_chromium.new_context(ignore_https_errors=True)
    try:
        callback, binding = attackers_callback(attacker, sibling_stack)
        page = victim.new_page()
        page.goto(f"{sibling_stack.app}/bff/login?returnUrl=/")
        sign_in_at_provider(page, "alice", "wonderland")
        page.wait_for_url(f"{sibling_stack.app}/**")
        assert user_of(page, sibling_stack) == "alice"
        victim_cookies = {c["name"]: c["value"] for c in victim.cookies()
                          if c["domain"] == APP_HOST}
        assert "__Host-bff" in victim_cookies and "__Host-bff_login" in victim_cookies

        page.route(f"{sibling_stack.evil}/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>prize</title>"))
        page.goto(f"{sibling_stack.evil}/prize")
        with page.expect_navigation(url=f"{sibling_stack.app}/bff/callback*"):
            page.evaluate(TOSS, [binding, callback])
        assert "not started in this browser" in page.content() or \
            "Please start again" in page.content()

        page.goto(f"{sibling_stack.app}/")
        assert user_of(page, sibling_stack) == "alice"
        after = [c for c in victim.cookies() if c["domain"] == APP_HOST]
        assert binding not in {c["value"] for c in after if c["name"].startswith("__Host-")}
    finally:
        attacker.close()
        victim.close()


def test_a_sibling_host_cannot_set_the_host_prefixed_cookies(
        sibling_stack: SiblingStack, resolving_chromium: Browser) -> None:
    context = resolving_chromium.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.route(f"{sibling_stack.evil}/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>x</title>"))
        page.goto(f"{sibling_stack.evil}/")
        page.evaluate("""() => {
            document.cookie = '__Host-bff_login=planted; Domain=example.test; Path=/; Secure';
            document.cookie = '__Host-bff=planted; Domain=example.test; Path=/; Secure';
        }""")
        reaching_app = [c for c in context.cookies(sibling_stack.app)
                        if c["name"].startswith("__Host-")]
        assert reaching_app == []
    finally:
        context.close()
