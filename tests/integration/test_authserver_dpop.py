"""DPoP at the reference provider (RFC 9449): a proof at the token endpoint binds the tokens to
its key, and every way around the binding is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests

from bff.signing_keys import SigningKey, dpop_proof, generate_signing_key
from tests.integration.authserver_support import (
    BFF_SECRET,
    SERVICE_SECRET,
    AuthServer,
    Pkce,
    authorize_params,
    config_text,
    introspect,
    login,
    redirect_params,
    start_authserver,
)
from tests.support import RedisServer

KEY, OTHER = generate_signing_key(), generate_signing_key()


def token_request(server: AuthServer, data: dict[str, str], proof: str | None,
                  client: tuple[str, str] = ("bff-demo", BFF_SECRET)) -> requests.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return requests.post(f"{server.url}/token", auth=client, data=data, headers=headers)


def proof_for(server: AuthServer, key: SigningKey = KEY, nonce: str | None = None) -> str:
    return dpop_proof(key, "POST", f"{server.issuer}/token", nonce=nonce)


def bound_login(server: AuthServer, key: SigningKey = KEY) -> dict[str, str]:
    pkce = Pkce()
    code = redirect_params(login(requests.Session(), server.url, authorize_params(pkce)))["code"]
    answer = token_request(server, {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": authorize_params(pkce)["redirect_uri"],
                                    "code_verifier": pkce.verifier}, proof_for(server, key))
    assert answer.status_code == 200, answer.text
    return answer.json()


def refreshed(server: AuthServer, refresh_token: str, proof: str | None) -> requests.Response:
    return token_request(server, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         proof)


def test_a_proof_binds_the_access_token_to_its_key(server: AuthServer) -> None:
    tokens = bound_login(server)
    assert tokens["token_type"] == "DPoP"
    claims = server.verify(tokens["access_token"], "demo-api")
    assert claims["cnf"] == {"jkt": KEY.thumbprint}
    described = introspect(server, tokens["access_token"])
    assert described["token_type"] == "DPoP" and described["cnf"]["jkt"] == KEY.thumbprint


def test_client_credentials_with_a_proof_are_bound_too(server: AuthServer) -> None:
    answer = token_request(server, {"grant_type": "client_credentials"}, proof_for(server),
                           client=("demo-service", SERVICE_SECRET))
    assert answer.json()["token_type"] == "DPoP"
    assert server.verify(answer.json()["access_token"], "demo-api")["cnf"]["jkt"] == \
        KEY.thumbprint


def test_a_bound_refresh_token_needs_a_proof_of_the_same_key(server: AuthServer) -> None:
    tokens = bound_login(server)
    assert refreshed(server, tokens["refresh_token"], None).json()["error"] == "invalid_grant"
    assert refreshed(server, tokens["refresh_token"],
                     proof_for(server, OTHER)).json()["error"] == "invalid_grant"
    answer = refreshed(server, tokens["refresh_token"], proof_for(server))
    assert answer.status_code == 200, "the refused attempts spent nothing"
    assert server.verify(answer.json()["access_token"], "demo-api")["cnf"]["jkt"] == \
        KEY.thumbprint


def test_a_replayed_proof_is_refused(server: AuthServer) -> None:
    proof = proof_for(server)
    data = {"grant_type": "client_credentials"}
    client = ("demo-service", SERVICE_SECRET)
    assert token_request(server, data, proof, client).status_code == 200
    replayed = token_request(server, data, proof, client)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(("attack", "make"), [
    ("proof_for_another_url", lambda s: dpop_proof(KEY, "POST", f"{s.issuer}/revoke")),
    ("proof_for_another_method", lambda s: dpop_proof(KEY, "GET", f"{s.issuer}/token")),
    ("not_a_proof", lambda s: "garbage"),
])
def test_a_bad_proof_gets_invalid_dpop_proof(server: AuthServer, attack: str, make: object
                                             ) -> None:
    answer = token_request(server, {"grant_type": "client_credentials"}, make(server),  # type: ignore[operator]
                           client=("demo-service", SERVICE_SECRET))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_dpop_proof", attack


def forged_proof(server: AuthServer, header: dict[str, object] | None = None,
                 secret: object = None, **claims: object) -> str:
    """A proof for the token endpoint with one thing changed, as an attacker would sign it."""
    body = {"jti": f"f-{time.monotonic_ns()}", "htm": "POST", "htu": f"{server.issuer}/token",
            "iat": int(time.time()), **claims}
    head = {**KEY.proof_header, **(header or {})}
    return jwt.encode(body, secret if secret is not None else KEY.key.private_key,
                      algorithm=str(head["alg"]), headers=head)


@pytest.mark.parametrize(("attack", "make"), [
    ("stale_iat", lambda s: forged_proof(s, iat=int(time.time()) - 3600)),
    ("future_iat", lambda s: forged_proof(s, iat=int(time.time()) + 3600)),
    ("hmac_proof", lambda s: forged_proof(s, {"alg": "HS256", "jwk": {"kty": "oct", "k": "eA"}},
                                          secret=b"k" * 32)),
    ("private_key_in_the_header", lambda s: forged_proof(s, {"jwk": KEY.private_jwk()})),
    ("signed_by_another_key", lambda s: forged_proof(s, {"jwk": OTHER.proof_header["jwk"]})),
    ("alg_none", lambda s: jwt.encode({"jti": "n", "htm": "POST", "htu": f"{s.issuer}/token",
                                       "iat": int(time.time())}, None, algorithm="none",
                                      headers={"typ": "dpop+jwt",
                                               "jwk": KEY.proof_header["jwk"]})),
])
def test_each_forged_proof_is_refused_at_the_token_endpoint(server: AuthServer, attack: str,
                                                           make: object) -> None:
    answer = token_request(server, {"grant_type": "client_credentials"}, make(server),  # type: ignore[operator]
                           client=("demo-service", SERVICE_SECRET))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_dpop_proof", attack


def test_discovery_advertises_dpop(server: AuthServer) -> None:
    document = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    assert "HS256" not in document["dpop_signing_alg_values_supported"]


@pytest.fixture(scope="module")
def nonce_server(redis_server: RedisServer) -> Iterator[AuthServer]:
    server = start_authserver(redis_server.url, config=config_text(extra="dpop_nonce = true"))
    try:
        yield server
    finally:
        server.stop()


def test_a_server_nonce_is_required_when_configured(nonce_server: AuthServer) -> None:
    client = ("demo-service", SERVICE_SECRET)
    data = {"grant_type": "client_credentials"}
    ignored = token_request(nonce_server, data, proof_for(nonce_server), client)
    assert ignored.status_code == 400 and ignored.json()["error"] == "use_dpop_nonce"
    nonce = ignored.headers["DPoP-Nonce"]
    stale = token_request(nonce_server, data, proof_for(nonce_server, nonce="made-up"), client)
    assert stale.json()["error"] == "use_dpop_nonce"
    answer = token_request(nonce_server, data, proof_for(nonce_server, nonce=nonce), client)
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP"
