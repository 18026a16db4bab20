"""DPoP proof verification (RFC 9449 section 4.3): the BFF's own proofs pass, and each attack
is refused by the rule it breaks."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.dpop import DpopError, normalized_uri, verify_proof
from bff.signing_keys import SigningKey, dpop_proof, generate_signing_key

URL = "https://api.example/orders/1"
KEY = generate_signing_key()
OTHER = generate_signing_key()


def verify(proof: str, **overrides: object) -> object:
    arguments: dict[str, object] = {"method": "GET", "uri": URL, "now": time.time()}
    arguments.update(overrides)
    return verify_proof([proof], **arguments)  # type: ignore[arg-type]


def forged(key: SigningKey, claims: dict[str, object], header: dict[str, object] | None = None,
           alg: str = "ES256", secret: object = None) -> str:
    now = int(time.time())
    body = {"jti": "j-1", "htm": "GET", "htu": URL, "iat": now, **claims}
    head = {**key.proof_header, **(header or {})}
    return jwt.encode(body, secret if secret is not None else key.key.private_key,
                      algorithm=alg, headers=head)


def test_the_bffs_proof_passes_and_names_its_key() -> None:
    proof = dpop_proof(KEY, "GET", URL + "?q=1", access_token="tok", nonce="n1")
    verified = verify(proof, access_token="tok", expected_jkt=KEY.thumbprint, nonce="n1")
    assert verified.jkt == KEY.thumbprint  # type: ignore[attr-defined]


def test_a_proof_replayed_is_the_callers_to_catch_by_its_jti() -> None:
    proof = dpop_proof(KEY, "GET", URL)
    assert verify(proof).jti == verify(proof).jti  # type: ignore[attr-defined]


@pytest.mark.parametrize(("attack", "proof_of", "overrides", "message"), [
    ("proof_for_another_method", lambda: dpop_proof(KEY, "POST", URL), {}, "method"),
    ("proof_for_another_url", lambda: dpop_proof(KEY, "GET", "https://api.example/orders/2"),
     {}, "URL"),
    ("proof_for_another_host", lambda: dpop_proof(KEY, "GET", "https://evil.example/orders/1"),
     {}, "URL"),
    ("token_bound_to_another_key", lambda: dpop_proof(OTHER, "GET", URL, access_token="tok"),
     {"access_token": "tok", "expected_jkt": KEY.thumbprint}, "another key"),
    ("proof_for_another_token", lambda: dpop_proof(KEY, "GET", URL, access_token="other"),
     {"access_token": "tok"}, "ath"),
    ("proof_without_ath", lambda: dpop_proof(KEY, "GET", URL), {"access_token": "tok"}, "ath"),
    ("nonce_ignored", lambda: dpop_proof(KEY, "GET", URL), {"nonce": "n2"}, "nonce"),
    ("stale_nonce", lambda: dpop_proof(KEY, "GET", URL, nonce="n1"), {"nonce": "n2"}, "nonce"),
    ("stale_iat", lambda: forged(KEY, {"iat": int(time.time()) - 3600}), {}, "too old"),
    ("future_iat", lambda: forged(KEY, {"iat": int(time.time()) + 3600}), {}, "future"),
    ("wrong_typ", lambda: forged(KEY, {}, {"typ": "JWT"}), {}, "typ"),
    ("private_key_in_header", lambda: forged(KEY, {}, {"jwk": KEY.private_jwk()}), {},
     "public"),
    ("symmetric_key_in_header", lambda: forged(KEY, {}, {"jwk": {"kty": "oct", "k": "c2VjcmV0"},
                                                         "alg": "HS256"},
                                               alg="HS256", secret=b"secret" * 6), {},
     "algorithm"),
    ("signed_by_another_key", lambda: forged(OTHER, {}, {"jwk": KEY.proof_header["jwk"]}), {},
     "signature"),
    ("no_jti", lambda: forged(KEY, {"jti": None}), {}, "jti|claims"),
])
def test_each_attack_is_refused(attack: str, proof_of: object, overrides: dict[str, object],
                                message: str) -> None:
    with pytest.raises(DpopError, match=message):
        verify(proof_of(), **overrides)  # type: ignore[operator]


def test_alg_none_is_refused() -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": KEY.proof_header["jwk"]}
    unsigned = jwt.api_jws.base64url_encode(json.dumps(header).encode()).decode() + "." + \
        jwt.api_jws.base64url_encode(json.dumps({"jti": "x", "htm": "GET", "htu": URL,
                                                 "iat": int(time.time())}).encode()).decode() + "."
    with pytest.raises(DpopError, match="algorithm"):
        verify(unsigned)


def test_two_proofs_and_no_proof_are_refused() -> None:
    proof = dpop_proof(KEY, "GET", URL)
    for proofs in ([], [proof, proof]):
        with pytest.raises(DpopError, match="exactly one"):
            verify_proof(proofs, method="GET", uri=URL, now=time.time())


def test_uri_comparison_ignores_what_rfc_9449_says_to_ignore() -> None:
    assert normalized_uri("HTTPS://API.Example:443/orders/1?x=1#f") == normalized_uri(URL)
    assert normalized_uri("http://a.example:80") == "http://a.example/"
    assert normalized_uri("http://a.example:8080/x") != normalized_uri("http://a.example/x")


@given(st.sampled_from(["GET", "POST", "PUT", "DELETE", "get"]),
       st.sampled_from([URL, "https://api.example/orders/10", "https://api.example/orders",
                        "http://api.example/orders/1", "https://api.example:8443/orders/1"]))
def test_a_proof_verifies_only_for_its_own_method_and_url(method: str, url: str) -> None:
    proof = dpop_proof(KEY, "GET", URL)
    if method == "GET" and url == URL:
        verify_proof([proof], method=method, uri=url, now=time.time())
    else:
        with pytest.raises(DpopError):
            verify_proof([proof], method=method, uri=url, now=time.time())
