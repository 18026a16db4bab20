"""OIDC Back-Channel Logout, against the real stack (invariant 3: sessions end everywhere).

The real provider's own back-channel call ends every BFF session of the provider session it
names. Logout tokens made by the test are signed with the provider's real key (read from its key
directory), so each refusal below is about the one claim or header that was changed.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.session_support import (
    DEMO_CLIENT_ID,
    KnownStack,
    wait_until,
)
from tests.support import XHR, log_in

EVENT = "http://schemas.openid.net/event/backchannel-logout"
PROVIDER_COOKIE = "bff_as_session"


def provider_key(stack: KnownStack) -> tuple[Any, str, str]:
    """The provider's current signing key: (private key, kid, alg)."""
    newest = max((json.loads(p.read_text()) for p in stack.key_dir.glob("*.json")),
                 key=lambda data: data["created_at"])
    jwk = newest["jwk"]
    return jwt.PyJWK(jwk).key, jwk["kid"], jwk["alg"]


def logout_token(stack: KnownStack, *, header: dict[str, Any] | None = None,
                 drop: tuple[str, ...] = (), key: Any = None, **claims: Any) -> str:
    private, kid, alg = provider_key(stack)
    now = int(time.time())
    body = {"iss": stack.issuer, "aud": DEMO_CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": secrets.token_urlsafe(16), "events": {EVENT: {}}, **claims}
    body = {k: v for k, v in body.items() if k not in drop}
    headers = {"kid": kid, "typ": "logout+jwt", **(header or {})}
    return jwt.encode(body, key or private, algorithm=alg, headers=headers)


def post_logout(stack: KnownStack, token: str) -> requests.Response:
    return requests.post(f"{stack.bff_url}/bff/backchannel-logout",
                         data={"logout_token": token}, timeout=10)


def alive(stack: KnownStack, browser: requests.Session) -> bool:
    return browser.get(f"{stack.bff_url}/bff/user", headers=XHR).status_code == 200


def login(stack: KnownStack, username: str = "alice",
          password: str = "wonderland") -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, username, password)
    assert alive(stack, browser)
    return browser


def second_session_of_the_same_provider_login(stack: KnownStack,
                                              browser: requests.Session) -> requests.Session:
    """Another BFF session born of the same provider session (same ``sid``): a second device
    that got the provider cookie, say. It logs in silently."""
    other = requests.Session()
    for cookie in browser.cookies:
        if cookie.name == PROVIDER_COOKIE:
            other.cookies.set_cookie(cookie)
    other.get(f"{stack.bff_url}/bff/login", params={"prompt": "none"})
    assert alive(stack, other)
    return other


def test_provider_logout_ends_every_bff_session_of_that_provider_session(
        stack: KnownStack) -> None:
    browser = login(stack)
    sibling = second_session_of_the_same_provider_login(stack, browser)
    elsewhere = login(stack)
    first, second = stack.session(browser), stack.session(sibling)
    assert first is not None and second is not None
    assert first.sid and first.sid == second.sid
    assert second.tokens.refresh_token

    redirect = browser.post(f"{stack.bff_url}/bff/logout", headers=XHR).json()["redirect"]
    assert browser.get(redirect).url == f"{stack.bff_url}/"

    wait_until(lambda: not alive(stack, sibling), "the provider's back-channel logout")
    assert stack.introspect(second.tokens.refresh_token)["active"] is False
    assert alive(stack, elsewhere)


def test_logout_token_naming_a_sid_ends_only_that_provider_sessions_sessions(
        stack: KnownStack) -> None:
    target, other_login = login(stack), login(stack)
    session = stack.session(target)
    assert session is not None and session.sid
    assert post_logout(stack, logout_token(stack, sid=session.sid, sub="alice")).status_code == 200
    assert not alive(stack, target)
    assert alive(stack, other_login)


def test_logout_token_naming_a_sub_ends_all_of_that_users_sessions(stack: KnownStack) -> None:
    phone, laptop, bob = login(stack), login(stack), login(stack, "bob", "builder")
    refresh_tokens = []
    for browser in (phone, laptop):
        session = stack.session(browser)
        assert session is not None and session.tokens.refresh_token
        refresh_tokens.append(session.tokens.refresh_token)
    assert post_logout(stack, logout_token(stack, sub="alice")).status_code == 200
    assert not alive(stack, phone) and not alive(stack, laptop)
    assert alive(stack, bob)
    assert all(stack.introspect(token)["active"] is False for token in refresh_tokens)


def test_replayed_logout_token_is_refused(stack: KnownStack) -> None:
    browser = login(stack)
    session = stack.session(browser)
    assert session is not None and session.sid
    token = logout_token(stack, sid=session.sid, sub="alice")
    assert post_logout(stack, token).status_code == 200
    relogged = second_session_of_the_same_provider_login(stack, browser)
    replay = post_logout(stack, token)
    assert replay.status_code == 400
    assert "already used" in replay.json()["error_description"]
    assert alive(stack, relogged)


def another_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def unsigned(stack: KnownStack, sid: str) -> str:
    _, kid, _ = provider_key(stack)
    now = int(time.time())
    return jwt.encode({"iss": stack.issuer, "aud": DEMO_CLIENT_ID, "iat": now, "exp": now + 120,
                       "jti": secrets.token_urlsafe(16), "events": {EVENT: {}}, "sid": sid},
                      None, algorithm="none", headers={"kid": kid, "typ": "logout+jwt"})


FORGED: dict[str, Callable[[KnownStack, str], str]] = {
    "signed_with_another_key": lambda s, sid: logout_token(s, sid=sid, key=another_key()),
    "alg_none": unsigned,
    "wrong_audience": lambda s, sid: logout_token(s, sid=sid, aud="another-client"),
    "wrong_issuer": lambda s, sid: logout_token(s, sid=sid, iss="https://evil.example"),
    "typ_jwt": lambda s, sid: logout_token(s, sid=sid, header={"typ": "JWT"}),
    "id_token_as_logout_token": lambda s, sid: logout_token(s, sid=sid, header={"typ": "JWT"},
                                                            drop=("events",), nonce="n"),
    "no_events": lambda s, sid: logout_token(s, sid=sid, drop=("events",)),
    "other_event": lambda s, sid: logout_token(s, sid=sid, events={"urn:other": {}}),
    "carries_a_nonce": lambda s, sid: logout_token(s, sid=sid, nonce="abc"),
    "stale_iat": lambda s, sid: logout_token(s, sid=sid, iat=int(time.time()) - 3600),
    "expired": lambda s, sid: logout_token(s, sid=sid, iat=int(time.time()) - 7200,
                                           exp=int(time.time()) - 3600),
    "no_jti": lambda s, sid: logout_token(s, sid=sid, drop=("jti",)),
    "neither_sid_nor_sub": lambda s, sid: logout_token(s),
}


@pytest.mark.parametrize("forgery", sorted(FORGED))
def test_forged_logout_token_is_refused(stack: KnownStack, forgery: str) -> None:
    browser = login(stack)
    session = stack.session(browser)
    assert session is not None and session.sid
    response = post_logout(stack, FORGED[forgery](stack, session.sid))
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert alive(stack, browser)
