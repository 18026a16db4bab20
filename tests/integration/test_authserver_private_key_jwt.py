"""private_key_jwt at the reference provider (RFC 7523): a client with no secret authenticates
with an assertion signed by its registered key, on every endpoint that authenticates clients,
and each forgery is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from bff.signing_keys import SigningKey, generate_signing_key
from tests.integration.authserver_support import AuthServer, config_text, start_authserver
from tests.support import RedisServer

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY, OTHER = generate_signing_key(), generate_signing_key()


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[AuthServer]:
    client = f"""
[[clients]]
client_id = "key-service"
grant_types = ["client_credentials"]
scopes = ["orders:read"]
audience = "demo-api"
introspection = true
token_endpoint_auth_methods = ["private_key_jwt"]
jwks = {{ keys = [{toml_table(KEY.public_jwk())}] }}
"""
    running = start_authserver(redis_server.url, config=config_text() + client)
    try:
        yield running
    finally:
        running.stop()


def toml_table(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + " }"


def assertion(server: AuthServer, key: SigningKey = KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "key-service", "sub": "key-service", "aud": server.issuer,
            "jti": f"j-{time.monotonic_ns()}", "iat": now, "exp": now + 60, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key.key.private_key, algorithm=key.alg, headers={"kid": key.kid})


def token(server: AuthServer, client_assertion: str, **extra: str) -> requests.Response:
    return requests.post(f"{server.url}/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION,
        "client_assertion": client_assertion, **extra})


def test_a_client_authenticates_with_its_key_on_token_and_introspection(
        server: AuthServer) -> None:
    issued = token(server, assertion(server))
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]
    assert server.verify(access, "demo-api")["client_id"] == "key-service"
    introspected = requests.post(f"{server.url}/introspect", data={
        "token": access, "client_assertion_type": ASSERTION,
        "client_assertion": assertion(server)})
    assert introspected.json()["active"] is True
    assert token(server, assertion(server, aud=f"{server.issuer}/token")).status_code == 200


def test_a_replayed_assertion_is_refused(server: AuthServer) -> None:
    once = assertion(server)
    assert token(server, once).status_code == 200
    assert token(server, once).json()["error"] == "invalid_client"


@pytest.mark.parametrize(("attack", "make"), [
    ("signed_by_another_key", lambda s: assertion(s, OTHER)),
    ("wrong_audience", lambda s: assertion(s, aud="https://elsewhere.example")),
    ("audience_list_with_others", lambda s: assertion(s, aud=[s.issuer, "https://x.example"])),
    ("expired", lambda s: assertion(s, exp=int(time.time()) - 120)),
    ("missing_exp", lambda s: assertion(s, exp=None)),
    ("too_long_lived", lambda s: assertion(s, exp=int(time.time()) + 3600)),
    ("iss_differs_from_sub", lambda s: assertion(s, iss="demo-service")),
    ("another_clients_name", lambda s: assertion(s, iss="demo-service", sub="demo-service")),
    ("missing_jti", lambda s: assertion(s, jti=None)),
])
def test_forged_assertions_are_invalid_client(server: AuthServer, attack: str,
                                              make: Any) -> None:
    assert token(server, make(server)).json()["error"] == "invalid_client", attack


def test_alg_none_and_hmac_with_the_public_key_are_refused(server: AuthServer) -> None:
    now = int(time.time())
    claims = {"iss": "key-service", "sub": "key-service", "aud": server.issuer,
              "jti": "forged", "exp": now + 60}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": KEY.kid})
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = (b64(json.dumps({"alg": "HS256", "kid": KEY.kid}).encode()) + "." +
                     b64(json.dumps(claims).encode()))
    mac = hmac.new(KEY.key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    hmac_forged = f"{signing_input}.{b64(mac.digest())}"  # the attacker's own HS256
    for forged in (unsigned, hmac_forged):
        assert token(server, forged).json()["error"] == "invalid_client"


def test_the_client_has_no_secret_to_use(server: AuthServer) -> None:
    for secret in ("", "anything"):
        answer = requests.post(f"{server.url}/token", auth=("key-service", secret),
                               data={"grant_type": "client_credentials"})
        assert answer.json()["error"] == "invalid_client"


def test_discovery_advertises_private_key_jwt(server: AuthServer) -> None:
    document = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert set(document["token_endpoint_auth_signing_alg_values_supported"]) >= {"ES256",
                                                                                 "RS256"}
