"""The provider's login page: CSRF, throttling, session fixation, prompt handling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.authserver_support import (
    AuthServer,
    Pkce,
    authorize_params,
    config_text,
    login,
    login_form,
    redirect_params,
    start_authserver,
    submit_login,
)
from tests.support import RedisServer


def redis_db(redis_server: RedisServer, db: int) -> str:
    """Throttling counts per client address, and every test comes from 127.0.0.1: servers
    that count failures get a database of their own."""
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


def throttled_config(per_user: int, per_address: int) -> str:
    return config_text().replace(
        "max_failures_per_user = 5\nmax_failures_per_address = 1000",
        f"max_failures_per_user = {per_user}\nmax_failures_per_address = {per_address}")


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[AuthServer]:
    server = start_authserver(redis_db(redis_server, 1))
    try:
        yield server
    finally:
        server.stop()


def test_login_without_csrf_token_is_refused(server: AuthServer) -> None:
    browser = requests.Session()
    page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    form = login_form(page)
    response = browser.post(server.url + form.action, allow_redirects=False,
                            data={"username": "alice", "password": "wonderland"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "expired" in response.text


def test_login_with_another_browsers_csrf_token_is_refused(server: AuthServer) -> None:
    attacker, victim = requests.Session(), requests.Session()
    attacker_form = login_form(attacker.get(f"{server.url}/authorize",
                                            params=authorize_params(Pkce())))
    victim.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    response = submit_login(victim, server.url, attacker_form, "alice", "wonderland")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_login_without_a_provider_cookie_is_refused(server: AuthServer) -> None:
    form = login_form(requests.get(f"{server.url}/authorize", params=authorize_params(Pkce())))
    response = submit_login(requests.Session(), server.url, form, "alice", "wonderland")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_session_cookie_is_replaced_at_login(server: AuthServer) -> None:
    browser = requests.Session()
    page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    before = browser.cookies["bff_as_session"]
    submit_login(browser, server.url, login_form(page), "alice", "wonderland")
    after = browser.cookies["bff_as_session"]
    assert after != before

    def silent_login(cookie: str) -> dict[str, str]:
        return redirect_params(requests.get(
            f"{server.url}/authorize", allow_redirects=False, headers={
                "Cookie": f"bff_as_session={cookie}"},
            params=authorize_params(Pkce(), prompt="none")))

    assert "code" in silent_login(after)
    assert silent_login(before)["error"] == "login_required"  # a planted id is worthless


def test_session_cookie_attributes(server: AuthServer) -> None:
    page = requests.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
    header = page.headers["Set-Cookie"]
    assert header.startswith("bff_as_session=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header


def test_prompt_none_combined_with_login_is_refused(server: AuthServer) -> None:
    response = requests.get(f"{server.url}/authorize", allow_redirects=False,
                            params=authorize_params(Pkce(), prompt="none login"))
    assert redirect_params(response)["error"] == "invalid_request"


def test_max_age_zero_forces_the_form(server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    response = browser.get(f"{server.url}/authorize", allow_redirects=False,
                           params=authorize_params(Pkce(), max_age="0"))
    assert response.status_code == 200 and login_form(response)


def test_logging_in_as_someone_else_keeps_one_session(server: AuthServer) -> None:
    browser = requests.Session()
    pkce = Pkce()
    login(browser, server.url, authorize_params(pkce))
    page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce(),
                                                                          prompt="login"))
    redirect = submit_login(browser, server.url, login_form(page), "bob", "builder")
    assert redirect.status_code == 302
    assert len([c for c in browser.cookies if c.name == "bff_as_session"]) == 1


def test_repeated_failures_for_one_user_are_throttled(redis_server: RedisServer) -> None:
    server = start_authserver(redis_db(redis_server, 2),
                              config=throttled_config(per_user=3, per_address=1000))
    try:
        browser = requests.Session()
        page = browser.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
        form = login_form(page)
        for _ in range(3):
            assert submit_login(browser, server.url, form, "alice", "guess").status_code == 401
        blocked = submit_login(browser, server.url, form, "alice", "wonderland")
        assert blocked.status_code == 429
        assert "Too many failed sign-in attempts" in blocked.text
        assert "Location" not in blocked.headers
        assert submit_login(browser, server.url, form, "bob", "builder").status_code == 302
    finally:
        server.stop()


def test_repeated_failures_from_one_address_are_throttled(redis_server: RedisServer) -> None:
    server = start_authserver(redis_db(redis_server, 3),
                              config=throttled_config(per_user=1000, per_address=3))
    try:
        browser = requests.Session()
        form = login_form(browser.get(f"{server.url}/authorize",
                                      params=authorize_params(Pkce())))
        for name in ("mallory", "trudy", "eve"):
            assert submit_login(browser, server.url, form, name, "guess").status_code == 401
        blocked = submit_login(browser, server.url, form, "alice", "wonderland")
        assert blocked.status_code == 429
    finally:
        server.stop()


def test_throttling_applies_to_the_password_grant(redis_server: RedisServer) -> None:
    server = start_authserver(redis_db(redis_server, 4),
                              config=throttled_config(per_user=2, per_address=1000))
    try:
        def attempt(password: str) -> requests.Response:
            return requests.post(f"{server.url}/token", auth=(
                "first-party-cli", "test-trusted-secret"), data={
                "grant_type": "password", "username": "bob", "password": password})

        assert attempt("x").status_code == 400
        assert attempt("y").status_code == 400
        blocked = attempt("builder")
        assert blocked.status_code == 400 and "Too many" in blocked.json()["error_description"]
    finally:
        server.stop()


def test_thirty_concurrent_guesses_never_exceed_the_limits(redis_server: RedisServer) -> None:
    """The review's race: counters were read, the password checked, and only then incremented,
    so 30 guesses sent at once were all checked against limits of 5 per user, 20 per address."""
    server = start_authserver(redis_db(redis_server, 5),
                              config=throttled_config(per_user=5, per_address=20))
    try:
        browser = requests.Session()
        form = login_form(browser.get(f"{server.url}/authorize",
                                      params=authorize_params(Pkce())))
        start = threading.Barrier(30)

        def guess(username: str) -> int:
            start.wait()
            return submit_login(browser, server.url, form, username, "guess").status_code

        with ThreadPoolExecutor(max_workers=30) as pool:
            one_user = list(pool.map(guess, ["alice"] * 30))
        assert one_user.count(401) <= 5 and one_user.count(429) >= 25, one_user
        with ThreadPoolExecutor(max_workers=30) as pool:
            many_users = list(pool.map(guess, [f"user{n}" for n in range(30)]))
        checked = one_user.count(401) + many_users.count(401)
        assert checked <= 20, (one_user, many_users)
        assert set(one_user + many_users) <= {401, 429}
    finally:
        server.stop()


def test_over_https_the_provider_session_cookie_is_host_prefixed(redis_server: RedisServer
                                                                  ) -> None:
    """Cookie tossing from a sibling host: a ``__Host-`` cookie cannot be set by any other host
    or for a narrower path, so a planted logged-in provider session cannot reach /authorize."""
    server = start_authserver(redis_db(redis_server, 6), issuer="https://login.example.test")
    try:
        page = requests.get(f"{server.url}/authorize", params=authorize_params(Pkce()))
        header = page.headers["Set-Cookie"]
        assert header.startswith("__Host-bff_as_session=")
        assert "Secure" in header and "Path=/;" in header and "Domain" not in header
    finally:
        server.stop()


def test_a_tossed_second_provider_cookie_gets_the_login_form_not_a_code(
        server: AuthServer) -> None:
    attacker = requests.Session()
    login(attacker, server.url, authorize_params(Pkce()), "bob", "builder")
    victim = requests.Session()
    login(victim, server.url, authorize_params(Pkce()), "alice", "wonderland")
    for pair in ((attacker, victim), (victim, attacker)):
        both = "; ".join(f"bff_as_session={b.cookies['bff_as_session']}" for b in pair)
        answer = requests.get(f"{server.url}/authorize", allow_redirects=False,
                              headers={"Cookie": both},
                              params=authorize_params(Pkce(), prompt="none"))
        assert redirect_params(answer)["error"] == "login_required"
