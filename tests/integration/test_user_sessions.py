"""The user's own sessions against the real stack: list, end one, end all; ended sessions'
cookies get 401 and their refresh tokens are revoked at the provider; another user's sessions
are out of reach; the usual anti-forgery rules hold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from bff.app import create_app
from bff.sansio.refresh import TokenSet
from bff.settings import build_settings, generate_secret_key
from tests.integration.session_support import KnownStack, bff_cookie, instance_env
from tests.support import ROOT, XHR, RedisServer, free_port, log_in

CHROME = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                        "Gecko) Chrome/131.0 Safari/537.36"}
FIREFOX = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0"}


def browser_as(stack: KnownStack, username: str, password: str,
               agent: dict[str, str]) -> requests.Session:
    browser = requests.Session()
    browser.headers.update(agent)
    log_in(browser, stack.bff_url, username, password)
    return browser


def sessions_of(stack: KnownStack, browser: requests.Session) -> list[dict[str, object]]:
    answer = browser.get(f"{stack.bff_url}/bff/sessions", headers=XHR)
    assert answer.status_code == 200, answer.text
    return answer.json()["sessions"]


def test_the_list_shows_each_of_my_sessions_and_which_one_is_this(stack: KnownStack) -> None:
    laptop = browser_as(stack, "alice", "wonderland", CHROME)
    phone = browser_as(stack, "alice", "wonderland", FIREFOX)
    listed = sessions_of(stack, laptop)
    mine = {s["device"]: s for s in listed}
    assert {"Chrome on Linux", "Firefox on Windows"} <= set(mine)
    assert mine["Chrome on Linux"]["current"] is True
    assert mine["Firefox on Windows"]["current"] is False
    body = laptop.get(f"{stack.bff_url}/bff/sessions", headers=XHR).text
    for secret in (bff_cookie(laptop), bff_cookie(phone)):
        assert secret and secret not in body
    assert "eyJ" not in body
    assert all(s["created_at"] <= s["last_seen_at"] <= s["expires_at"] for s in listed)


def test_ending_another_session_logs_it_out_and_revokes_its_refresh_token(
        stack: KnownStack) -> None:
    laptop = browser_as(stack, "alice", "wonderland", CHROME)
    phone = browser_as(stack, "alice", "wonderland", FIREFOX)
    phone_session = stack.session(phone)
    assert phone_session is not None and phone_session.tokens.refresh_token
    target = next(s for s in sessions_of(stack, phone) if s["current"])
    answer = laptop.delete(f"{stack.bff_url}/bff/sessions/{target['id']}", headers=XHR)
    assert answer.status_code == 200 and answer.json() == {"ended": 1, "not_revoked": 0}
    assert phone.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    assert stack.introspect(phone_session.tokens.refresh_token)["active"] is False
    assert laptop.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_another_users_session_is_not_found_and_stays_alive(stack: KnownStack) -> None:
    alice = browser_as(stack, "alice", "wonderland", CHROME)
    bob = browser_as(stack, "bob", "builder", FIREFOX)
    bobs = next(s for s in sessions_of(stack, bob) if s["current"])
    answer = alice.delete(f"{stack.bff_url}/bff/sessions/{bobs['id']}", headers=XHR)
    assert answer.status_code == 404
    assert bob.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    assert all(s["id"] != bobs["id"] for s in sessions_of(stack, alice))


def test_a_malformed_id_is_400_and_an_unknown_one_404(stack: KnownStack) -> None:
    alice = browser_as(stack, "alice", "wonderland", CHROME)
    for bad in ("x", "0" * 23, "G" * 24, "0" * 25):
        assert alice.delete(f"{stack.bff_url}/bff/sessions/{bad}",
                            headers=XHR).status_code == 400
    assert alice.delete(f"{stack.bff_url}/bff/sessions/{'0' * 24}",
                        headers=XHR).status_code == 404


def test_forged_and_cross_site_calls_are_refused(stack: KnownStack) -> None:
    alice = browser_as(stack, "alice", "wonderland", CHROME)
    target = sessions_of(stack, alice)[0]["id"]
    assert alice.get(f"{stack.bff_url}/bff/sessions").status_code == 403
    assert alice.post(f"{stack.bff_url}/bff/sessions/logout-all").status_code == 403
    assert alice.delete(f"{stack.bff_url}/bff/sessions/{target}", headers={
        **XHR, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert alice.post(f"{stack.bff_url}/bff/sessions/logout-all", headers={
        **XHR, "Origin": "https://evil.example"}).status_code == 403
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200
    assert requests.get(f"{stack.bff_url}/bff/sessions", headers=XHR).status_code == 401


def test_sign_out_everywhere_ends_all_of_mine_and_none_of_bobs(stack: KnownStack) -> None:
    laptop = browser_as(stack, "alice", "wonderland", CHROME)
    phone = browser_as(stack, "alice", "wonderland", FIREFOX)
    bob = browser_as(stack, "bob", "builder", CHROME)
    tokens = [s.tokens.refresh_token for s in (stack.session(laptop), stack.session(phone))
              if s is not None]
    answer = laptop.post(f"{stack.bff_url}/bff/sessions/logout-all", headers=XHR)
    assert answer.status_code == 200 and answer.json()["ended"] >= 2
    assert "bff=;" in answer.headers.get("Set-Cookie", "")
    for browser in (laptop, phone):
        assert browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    assert all(stack.introspect(t)["active"] is False for t in tokens if t)
    assert bob.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def test_operators_list_and_revoke_a_users_sessions_from_the_command_line(
        stack: KnownStack, tmp_path: Path) -> None:
    """`bff sessions list|revoke --sub`: a stolen laptop ends now, bob's sessions stay."""
    alice = browser_as(stack, "alice", "wonderland", CHROME)
    bob = browser_as(stack, "bob", "builder", FIREFOX)
    config = tmp_path / "bff.toml"
    config.write_text("")
    env = instance_env(stack, stack.keys, config)
    listed = run_cli(["sessions", "list", "--sub", "alice"], env)
    assert listed.returncode == 0, listed.stderr
    mine = next(s for s in sessions_of(stack, alice) if s["current"])
    assert mine["id"] in listed.stdout and "Chrome on Linux" in listed.stdout
    one = run_cli(["sessions", "revoke", "--sub", "alice", "--session", str(mine["id"])], env)
    assert one.returncode == 0 and "ended 1 session(s) of alice" in one.stdout
    assert alice.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 401
    unknown = run_cli(["sessions", "revoke", "--sub", "alice", "--session", "0" * 24], env)
    assert unknown.returncode == 1
    assert bob.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bff.cli", *args, "--config", env["BFF_CONFIG"]],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_signing_out_everywhere_while_the_provider_is_down_ends_the_sessions_and_says_so(
        redis_server: RedisServer) -> None:
    """The provider cannot revoke: the sessions end all the same, and the answer counts the
    refresh tokens that stay valid there."""
    settings = build_settings({
        "base_url": "http://localhost:8000", "issuer": f"http://127.0.0.1:{free_port()}",
        "client_id": "bff", "client_secret": "s", "secret_keys": generate_secret_key(),
        "redis_url": redis_server.url, "provider_timeout": 1.0})
    app = create_app(settings)
    store = app.extensions["bff"].store
    now = time.time()
    ids = [store.create(TokenSet("a", f"r{n}", now + 300, now, ("openid",)),
                        sub="offline-user", sid=None, claims={})[0] for n in range(3)]
    client = app.test_client()
    client.set_cookie("bff", ids[0])
    answer = client.post("/bff/sessions/logout-all", headers=XHR)
    assert answer.status_code == 200
    assert answer.json == {"ended": 3, "not_revoked": 3}
    assert all(store.load(i, slide=False) is None for i in ids)
