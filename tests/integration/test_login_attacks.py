"""Invariants 3 and 6 at login, against the real stack: each attack tried and refused.

State replay, state carried to another browser (login CSRF), code injection, an exchanged code
before the state check, session fixation, open redirects through ``returnUrl``; and the login
features they must not break: two tabs at once, ``prompt=none`` and ``prompt=login``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.integration.session_support import (
    KnownStack,
    bff_cookie,
    record_of,
    start_known_stack,
)
from tests.support import XHR, RedisServer, log_in, parse_form


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[KnownStack]:
    """The demo with pushed authorization requests off: these attacks read and tamper with the
    authorization request in the browser's URL, where it travels only without PAR (with PAR
    there is nothing there to tamper with: tests/integration/test_authserver_par.py)."""
    known = start_known_stack(redis_server, {"BFF_PAR": "off"})
    try:
        yield known
    finally:
        known.stop()


def start(browser: requests.Session, bff_url: str, **params: str) -> str:
    """/bff/login: the provider's authorize URL it redirects to."""
    response = browser.get(f"{bff_url}/bff/login", params={"returnUrl": "/", **params},
                           allow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def authorize(browser: requests.Session, bff_url: str, authorize_url: str,
              username: str = "alice", password: str = "wonderland") -> str:
    """Log in at the provider; the callback URL it sends the browser to, not yet visited."""
    page = browser.get(authorize_url, allow_redirects=False)
    if page.status_code != 302:
        form = parse_form(page.text)
        assert form.action is not None, page.text[:300]
        page = browser.post(requests.compat.urljoin(page.url, form.action),
                            data={**form.fields, "username": username, "password": password},
                            allow_redirects=False)
    location = page.headers["Location"]
    assert location.startswith(f"{bff_url}/bff/callback"), location
    return location


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def plant(browser: requests.Session, session_id: str) -> None:
    """A session cookie set where the BFF's own would go, so the BFF's Set-Cookie replaces it
    exactly as in a real browser (requests files localhost cookies under localhost.local)."""
    browser.cookies.set("bff", session_id, domain="localhost.local", path="/")


def callback_with(bff_url: str, **params: str) -> str:
    return f"{bff_url}/bff/callback?{urlencode(params)}"


def test_state_replay_is_refused(stack: KnownStack) -> None:
    browser = requests.Session()
    callback = authorize(browser, stack.bff_url, start(browser, stack.bff_url))
    first = browser.get(callback, allow_redirects=False)
    assert first.status_code == 302
    cookie = bff_cookie(browser)
    replay = browser.get(callback, allow_redirects=False)
    assert replay.status_code == 400
    assert replay.json()["error"] == "login_failed"
    assert bff_cookie(browser) == cookie
    assert "Set-Cookie" not in replay.headers or "bff=" not in replay.headers["Set-Cookie"]


def test_state_from_another_browser_is_refused(stack: KnownStack) -> None:
    """Login CSRF: the attacker's own login, completed in the victim's browser."""
    attacker, victim = requests.Session(), requests.Session()
    callback = authorize(attacker, stack.bff_url, start(attacker, stack.bff_url),
                         "bob", "builder")
    response = victim.get(callback, allow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"] == "login_failed"
    assert bff_cookie(victim) is None
    assert victim.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401


def test_callback_without_state_is_refused(stack: KnownStack) -> None:
    browser = requests.Session()
    callback = authorize(browser, stack.bff_url, start(browser, stack.bff_url))
    params = query(callback)
    del params["state"]
    response = browser.get(callback_with(stack.bff_url, **params), allow_redirects=False)
    assert response.status_code == 400
    assert bff_cookie(browser) is None


def test_code_injection_is_refused(stack: KnownStack) -> None:
    """The attacker's authorization code, injected into the victim's own login: the victim's
    PKCE verifier (and nonce) do not match it, so no session is made with it."""
    attacker, victim = requests.Session(), requests.Session()
    stolen = query(authorize(attacker, stack.bff_url, start(attacker, stack.bff_url),
                             "bob", "builder"))
    victim_state = query(start(victim, stack.bff_url))["state"]
    injected = callback_with(stack.bff_url, code=stolen["code"], state=victim_state,
                             iss=stolen["iss"])
    response = victim.get(injected, allow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"] == "login_failed"
    assert bff_cookie(victim) is None


def test_state_is_checked_before_the_code_is_exchanged(stack: KnownStack) -> None:
    """A callback with a forged state must not spend the code: its owner can still use it."""
    browser = requests.Session()
    callback = authorize(browser, stack.bff_url, start(browser, stack.bff_url))
    params = query(callback)
    forged = browser.get(callback_with(stack.bff_url, **{**params, "state": "forged"}),
                         allow_redirects=False)
    assert forged.status_code == 400
    genuine = browser.get(callback, allow_redirects=False)
    assert genuine.status_code == 302, genuine.text
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_planted_session_id_is_not_kept_at_login(stack: KnownStack) -> None:
    browser = requests.Session()
    planted = "attacker-chosen-session-id-attacker-chosen-session-id-0"
    plant(browser, planted)
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert bff_cookie(browser) not in (None, planted)
    assert record_of(stack.redis.client(), planted) is None
    attacker = requests.Session()
    plant(attacker, planted)
    assert attacker.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401


def test_planted_live_session_of_the_attacker_is_not_kept_at_login(stack: KnownStack) -> None:
    """Session fixation with a real session: the attacker logs in, plants the cookie in the
    victim's browser, the victim logs in; the attacker's cookie never sees the victim."""
    attacker = requests.Session()
    log_in(attacker, stack.bff_url, "bob", "builder")
    planted = bff_cookie(attacker)
    assert planted
    victim = requests.Session()
    plant(victim, planted)
    log_in(victim, stack.bff_url, "alice", "wonderland")
    assert bff_cookie(victim) != planted
    assert victim.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["sub"] == "alice"
    seen_by_attacker = attacker.get(f"{stack.bff_url}/bff/user", headers=XHR)
    assert seen_by_attacker.status_code == 401


def test_every_login_gets_a_new_session_id(stack: KnownStack) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    first = bff_cookie(browser)
    log_in(browser, stack.bff_url, "alice", "wonderland")
    second = bff_cookie(browser)
    assert first and second and first != second
    assert len(second) >= 43
    assert record_of(stack.redis.client(), first) is None
    assert record_of(stack.redis.client(), second) is not None


OPEN_REDIRECTS = [
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example", "http://evil.example/orders", "https:evil.example",
    "javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,hi",
    "evil.example", " //evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil",
    "%2F%2Fevil.example", "/%2Fevil.example", "/%5Cevil.example", "%5C%5Cevil.example",
    "/%252F%252Fevil.example", "/%09/evil.example", "/%0A/evil.example",
    "javascript%3Aalert(1)",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_open_redirect_through_return_url_is_refused(stack: KnownStack, target: str) -> None:
    response = requests.get(f"{stack.bff_url}/bff/login", params={"returnUrl": target},
                            allow_redirects=False, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")


def test_same_origin_return_url_is_where_login_lands(stack: KnownStack) -> None:
    browser = requests.Session()
    landing = log_in(browser, stack.bff_url, "alice", "wonderland",
                     return_url="/orders?tab=open")
    assert landing.url == f"{stack.bff_url}/orders?tab=open"


def test_two_tabs_can_log_in_at_once(stack: KnownStack) -> None:
    browser = requests.Session()
    first_tab = start(browser, stack.bff_url, returnUrl="/one")
    second_tab = start(browser, stack.bff_url, returnUrl="/two")
    second_callback = authorize(browser, stack.bff_url, second_tab)
    first_callback = authorize(browser, stack.bff_url, first_tab)
    second = browser.get(second_callback, allow_redirects=False)
    assert second.status_code == 302 and second.headers["Location"] == "/two"
    first = browser.get(first_callback, allow_redirects=False)
    assert first.status_code == 302 and first.headers["Location"] == "/one"
    assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_login_binding_cookie_is_httponly_and_short_lived(stack: KnownStack) -> None:
    response = requests.get(f"{stack.bff_url}/bff/login", params={"returnUrl": "/"},
                            allow_redirects=False)
    binding = response.headers["Set-Cookie"]
    assert binding.startswith("bff_login=")
    assert "HttpOnly" in binding and "SameSite=Lax" in binding and "Path=/;" in binding
    assert "Max-Age=600" in binding


def set_cookie_value(response: requests.Response, name: str) -> str:
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{name}="), header
    return header.split(";", 1)[0].split("=", 1)[1]


@pytest.mark.parametrize("planted", [
    "attacker-chosen", "A" * 43, "k1d.AAAA", "", "%00", "bff_login=x",
])
def test_binding_value_the_bff_did_not_mint_is_never_adopted(stack: KnownStack,
                                                              planted: str) -> None:
    response = requests.get(f"{stack.bff_url}/bff/login", params={"returnUrl": "/"},
                            headers={"Cookie": f"bff_login={planted}"}, allow_redirects=False)
    assert response.status_code == 302
    minted = set_cookie_value(response, "bff_login")
    assert minted != planted and (not planted or planted not in minted)


def test_binding_the_bff_minted_is_reused_by_a_second_tab(stack: KnownStack) -> None:
    first = requests.get(f"{stack.bff_url}/bff/login", allow_redirects=False)
    binding = set_cookie_value(first, "bff_login")
    second = requests.get(f"{stack.bff_url}/bff/login", allow_redirects=False,
                          headers={"Cookie": f"bff_login={binding}"})
    assert set_cookie_value(second, "bff_login") == binding


def test_login_csrf_by_tossing_the_attackers_binding_is_refused_and_keeps_the_victims_session(
        stack: KnownStack) -> None:
    """The review's attack on plain http: the attacker's own (genuinely minted) binding, tossed
    into the victim's browser for the narrower path /bff/callback, arrives beside the victim's."""
    attacker = requests.Session()
    attacker_callback = authorize(attacker, stack.bff_url, start(attacker, stack.bff_url),
                                  "bob", "builder")
    attacker_binding = attacker.cookies.get("bff_login")
    victim = requests.Session()
    log_in(victim, stack.bff_url, "alice", "wonderland")
    start(victim, stack.bff_url)
    victim_binding = victim.cookies.get("bff_login")
    assert attacker_binding and victim_binding and attacker_binding != victim_binding
    victim_session = bff_cookie(victim)
    for order in ((attacker_binding, victim_binding), (victim_binding, attacker_binding)):
        tossed = requests.get(attacker_callback, allow_redirects=False, headers={
            "Cookie": f"bff_login={order[0]}; bff_login={order[1]}; bff={victim_session}"})
        assert tossed.status_code == 400, tossed.text[:200]
        assert "bff=" not in tossed.headers.get("Set-Cookie", "")
    assert victim.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["sub"] == "alice"


def test_two_session_cookies_are_no_session(stack: KnownStack) -> None:
    """A second session cookie (tossed for a narrower path) makes the credential ambiguous."""
    alice = requests.Session()
    log_in(alice, stack.bff_url, "alice", "wonderland")
    bob = requests.Session()
    log_in(bob, stack.bff_url, "bob", "builder")
    both = f"bff={bff_cookie(bob)}; bff={bff_cookie(alice)}"
    response = requests.get(f"{stack.bff_url}/bff/user", headers={**XHR, "Cookie": both})
    assert response.status_code == 401
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).json()["sub"] == "alice"


def test_prompt_none_is_passed_through_and_a_silent_failure_lands_without_a_session(
        stack: KnownStack) -> None:
    browser = requests.Session()
    authorize_url = start(browser, stack.bff_url, prompt="none", returnUrl="/orders")
    assert query(authorize_url)["prompt"] == "none"
    back = browser.get(authorize_url, allow_redirects=False)
    assert back.headers["Location"].startswith(f"{stack.bff_url}/bff/callback")
    assert query(back.headers["Location"])["error"] == "login_required"
    landing = browser.get(back.headers["Location"], allow_redirects=False)
    assert landing.status_code == 302 and landing.headers["Location"] == "/orders"
    assert bff_cookie(browser) is None


def test_prompt_none_logs_in_silently_when_the_provider_knows_the_user(
        stack: KnownStack) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    before = bff_cookie(browser)
    authorize_url = start(browser, stack.bff_url, prompt="none")
    back = browser.get(authorize_url, allow_redirects=False)
    assert "code" in query(back.headers["Location"])
    assert browser.get(back.headers["Location"], allow_redirects=False).status_code == 302
    assert bff_cookie(browser) not in (None, before)


def test_prompt_login_makes_the_provider_ask_again(stack: KnownStack) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    authorize_url = start(browser, stack.bff_url, prompt="login")
    assert query(authorize_url)["prompt"] == "login"
    page = browser.get(authorize_url, allow_redirects=False)
    assert page.status_code == 200
    assert parse_form(page.text).action is not None


def test_unknown_prompt_is_refused(stack: KnownStack) -> None:
    response = requests.get(f"{stack.bff_url}/bff/login", params={"prompt": "consent"},
                            allow_redirects=False)
    assert response.status_code == 400
