"""Forged and mismatched ID tokens, and the mix-up attack, against a real BFF process.

A real provider never signs a forgery, so the provider here is a fake one the test controls
(a real HTTP server); each forgery is refused with ``login_failed`` and no session, while the
genuine token from the same provider logs in (so no refusal passes vacuously).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.fake_provider import (
    CLIENT_ID,
    OMIT,
    EchoApi,
    FakeProvider,
    b64url,
    fake_login,
    start_fake_bff,
)
from tests.integration.session_support import bff_cookie
from tests.support import XHR, BffProcess, RedisServer

Maker = Callable[[FakeProvider, dict[str, Any]], str]


@pytest.fixture(scope="module")
def world(redis_server: RedisServer) -> Iterator[tuple[FakeProvider, BffProcess]]:
    provider, api = FakeProvider(), EchoApi()
    bff, _ = start_fake_bff(provider, api, redis_server.url)
    try:
        yield provider, bff
    finally:
        bff.stop()
        provider.stop()
        api.stop()


@pytest.fixture
def provider(world: tuple[FakeProvider, BffProcess]) -> Iterator[FakeProvider]:
    fake = world[0]
    yield fake
    fake.make_id_token = None
    fake.callback_iss = None
    fake.authorize_error = None


@pytest.fixture
def bff(world: tuple[FakeProvider, BffProcess]) -> BffProcess:
    return world[1]


def session_count(redis_server: RedisServer) -> int:
    return len(redis_server.client().keys("bff:{*}:session"))


def changed(**overrides: Any) -> Maker:
    def make(fake: FakeProvider, claims: dict[str, Any]) -> str:
        return fake.sign({**claims, **overrides})
    return make


def without(name: str) -> Maker:
    def make(fake: FakeProvider, claims: dict[str, Any]) -> str:
        return fake.sign({k: v for k, v in claims.items() if k != name})
    return make


def alg_none(fake: FakeProvider, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": fake.kid})


def hmac_with_the_public_key(fake: FakeProvider, claims: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HS256 keyed with the provider's public key."""
    public_pem = fake.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": fake.kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def signed_with_another_key(fake: FakeProvider, claims: dict[str, Any]) -> str:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, attacker, algorithm="RS256", headers={"kid": fake.kid})


def signature_stripped(fake: FakeProvider, claims: dict[str, Any]) -> str:
    header, payload, _ = fake.sign(claims).split(".")
    return f"{header}.{payload}."


def unknown_critical_header(fake: FakeProvider, claims: dict[str, Any]) -> str:
    return fake.sign(claims, {"crit": ["urn:example:must-understand"],
                              "urn:example:must-understand": True})


def expired(fake: FakeProvider, claims: dict[str, Any]) -> str:
    now = int(time.time())
    return fake.sign({**claims, "iat": now - 7200, "exp": now - 3600})


def issued_in_the_future(fake: FakeProvider, claims: dict[str, Any]) -> str:
    now = int(time.time())
    return fake.sign({**claims, "iat": now + 3600, "exp": now + 7200})


FORGERIES: dict[str, Maker] = {
    "alg_none": alg_none,
    "hmac_with_the_public_key": hmac_with_the_public_key,
    "signed_with_another_key": signed_with_another_key,
    "signature_stripped": signature_stripped,
    "unknown_critical_header": unknown_critical_header,
    "wrong_audience": changed(aud="another-client"),
    "extra_audience_without_azp": changed(aud=[CLIENT_ID, "another-client"]),
    "azp_of_another_client": changed(azp="another-client"),
    "wrong_issuer": changed(iss="https://evil.example"),
    "expired": expired,
    "issued_in_the_future": issued_in_the_future,
    "nonce_mismatch": changed(nonce="attacker-chosen-nonce"),
    "nonce_missing": without("nonce"),
    "sub_missing": without("sub"),
}


def test_genuine_id_token_logs_in(provider: FakeProvider, bff: BffProcess) -> None:
    browser = requests.Session()
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 302, callback.text
    assert callback.headers["Location"] == "/"
    user = browser.get(f"{bff.url}/bff/user", headers=XHR)
    assert user.status_code == 200
    assert user.json()["sub"] == "user-1"


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_id_token_is_refused(provider: FakeProvider, bff: BffProcess,
                                    redis_server: RedisServer, forgery: str) -> None:
    provider.make_id_token = FORGERIES[forgery]
    sessions_before = session_count(redis_server)
    browser = requests.Session()
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 400, callback.text
    assert callback.json()["error"] == "login_failed"
    assert bff_cookie(browser) is None
    assert session_count(redis_server) == sessions_before
    assert browser.get(f"{bff.url}/bff/user", headers=XHR).status_code == 401


def test_iss_mix_up_is_refused_before_the_code_is_exchanged(
        provider: FakeProvider, bff: BffProcess) -> None:
    provider.callback_iss = "https://evil.example"
    exchanges = provider.code_exchanges
    browser = requests.Session()
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 400
    assert "issuer" in callback.json()["error_description"]
    assert provider.code_exchanges == exchanges
    assert bff_cookie(browser) is None


def test_missing_iss_from_a_provider_that_promises_it_is_refused(
        provider: FakeProvider, bff: BffProcess) -> None:
    provider.callback_iss = OMIT
    exchanges = provider.code_exchanges
    browser = requests.Session()
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 400
    assert provider.code_exchanges == exchanges
    assert bff_cookie(browser) is None


def test_provider_error_is_a_readable_page_for_a_browser(
        provider: FakeProvider, bff: BffProcess) -> None:
    provider.authorize_error = ("access_denied", "The user said <b>no</b>")
    browser = requests.Session()
    browser.headers["Accept"] = "text/html,application/xhtml+xml"
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 400
    assert callback.headers["Content-Type"].startswith("text/html")
    assert "access_denied" in callback.text
    assert "The user said &lt;b&gt;no&lt;/b&gt;" in callback.text
    assert "<b>no</b>" not in callback.text
    assert "Traceback" not in callback.text
    assert bff_cookie(browser) is None


def test_provider_error_is_json_for_a_script(provider: FakeProvider, bff: BffProcess) -> None:
    provider.authorize_error = ("temporarily_unavailable", "Try again\nlater")
    browser = requests.Session()
    browser.headers["Accept"] = "application/json"
    callback = fake_login(browser, bff.url)
    assert callback.status_code == 400
    body = callback.json()
    assert body["error"] == "login_failed"
    assert "temporarily_unavailable" in body["error_description"]
    assert "\n" not in body["error_description"]
