"""The resource-server helpers and DPoP (RFC 9449 section 7), through a real Flask app and a
real local issuer: a bound token passes only with a fresh, single-use proof of its key for this
request, carrying this server's nonce; every attack is refused by name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from flask import Flask

from bff.resource.protect import current_token, init_app, require_token
from bff.resource.settings import ValidatorSettings
from bff.resource.testing import LocalIssuer
from bff.resource.validation import TokenValidator
from bff.sansio.dpop import access_token_hash, server_nonce
from bff.signing_keys import SigningKey, dpop_proof, generate_signing_key

KEY, THIEF = generate_signing_key(), generate_signing_key()
SECRET = "resource-nonce-secret"
URL = "http://localhost/orders"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def app(issuer: LocalIssuer) -> Flask:
    api = Flask(__name__)
    init_app(api, TokenValidator(ValidatorSettings(
        issuer=issuer.url, audience="demo-api", dpop="required", dpop_nonce_secret=SECRET)))

    @api.get("/orders")
    @require_token("orders:read")
    def orders() -> dict[str, str]:
        return {"sub": current_token().sub}

    return api


def nonce() -> str:
    return server_nonce(SECRET.encode(), time.time())


def bound(issuer: LocalIssuer, key: SigningKey = KEY) -> str:
    return issuer.mint(claims={"cnf": {"jkt": key.thumbprint}})


def call(app: Flask, token: str, proof: str | None, scheme: str = "DPoP") -> Any:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return app.test_client().get("/orders", headers=headers)


def forged(token: str, **changes: Any) -> str:
    """A proof of KEY for this request with one thing changed, signed as an attacker would."""
    claims = {"jti": f"j-{time.monotonic_ns()}", "htm": "GET", "htu": URL,
              "iat": int(time.time()), "ath": access_token_hash(token), "nonce": nonce()}
    header = dict(KEY.proof_header)
    claims.update(changes.pop("claims", {}))
    header.update(changes.pop("header", {}))
    return jwt.encode(claims, changes.pop("secret", KEY.key.private_key),
                      algorithm=header["alg"], headers=header)


def test_a_fresh_proof_of_the_tokens_key_with_the_nonce_passes(app: Flask,
                                                                issuer: LocalIssuer) -> None:
    token = bound(issuer)
    answer = call(app, token, dpop_proof(KEY, "GET", URL, access_token=token, nonce=nonce()))
    assert answer.status_code == 200, answer.get_json()


def test_nonce_ignored_gets_use_dpop_nonce_and_the_nonce(app: Flask,
                                                         issuer: LocalIssuer) -> None:
    token = bound(issuer)
    answer = call(app, token, dpop_proof(KEY, "GET", URL, access_token=token))
    assert answer.status_code == 401
    assert 'error="use_dpop_nonce"' in answer.headers["WWW-Authenticate"]
    assert answer.headers["DPoP-Nonce"] == nonce()


def test_replayed_proof_is_refused(app: Flask, issuer: LocalIssuer) -> None:
    token = bound(issuer)
    proof = dpop_proof(KEY, "GET", URL, access_token=token, nonce=nonce())
    assert call(app, token, proof).status_code == 200
    replay = call(app, token, proof)
    assert replay.status_code == 401 and "used before" in replay.get_json()["error_description"]


@pytest.mark.parametrize(("attack", "changes"), [
    ("proof_for_another_url", {"claims": {"htu": "http://localhost/admin"}}),
    ("proof_for_another_method", {"claims": {"htm": "POST"}}),
    ("stale_iat", {"claims": {"iat": int(time.time()) - 3600}}),
    ("future_iat", {"claims": {"iat": int(time.time()) + 3600}}),
    ("proof_for_another_token", {"claims": {"ath": "bm90IHRoaXMgdG9rZW4"}}),
    ("hmac_proof", {"header": {"alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}},
                    "secret": b"s" * 32}),
    ("private_key_in_the_header", {"header": {"jwk": KEY.private_jwk()}}),
])
def test_each_forged_proof_is_refused_as_invalid_dpop_proof(
        app: Flask, issuer: LocalIssuer, attack: str, changes: dict[str, Any]) -> None:
    token = bound(issuer)
    answer = call(app, token, forged(token, **dict(changes)))
    assert answer.status_code == 401, attack
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and 'error="invalid_dpop_proof"' in challenge, attack
    assert 'algs="' in challenge


def test_alg_none_proof_is_refused(app: Flask, issuer: LocalIssuer) -> None:
    token = bound(issuer)
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": KEY.proof_header["jwk"]}
    unsigned = jwt.encode({"jti": "n", "htm": "GET", "htu": URL, "iat": int(time.time())},
                          None, algorithm="none", headers=header)
    assert call(app, token, unsigned).status_code == 401


def test_a_token_bound_to_another_key_is_refused_with_the_thiefs_proof(
        app: Flask, issuer: LocalIssuer) -> None:
    token = bound(issuer, THIEF)
    stolen = bound(issuer)
    assert call(app, stolen, dpop_proof(THIEF, "GET", URL, access_token=stolen,
                                        nonce=nonce())).status_code == 401
    assert call(app, token, dpop_proof(THIEF, "GET", URL, access_token=token,
                                       nonce=nonce())).status_code == 200


def test_a_bound_token_sent_as_bearer_and_a_bearer_token_are_refused(
        app: Flask, issuer: LocalIssuer) -> None:
    refused = call(app, bound(issuer), None, scheme="Bearer")
    assert refused.status_code == 401
    assert "with its proof" in refused.get_json()["error_description"]
    plain = call(app, issuer.mint(), None, scheme="Bearer")
    assert plain.status_code == 401 and "only DPoP" in plain.get_json()["error_description"]
