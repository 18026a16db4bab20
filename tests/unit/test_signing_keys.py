"""Client and DPoP keys from settings: what a deployment may sign with, refused at start-up
otherwise, with the setting's name in the message."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, OctKey

from bff.signing_keys import SigningKeyError, generate_signing_key, load_signing_key


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_a_generated_key_round_trips_through_its_private_jwk() -> None:
    key = generate_signing_key()
    loaded = load_signing_key(json.dumps(key.private_jwk()), "BFF_CLIENT_KEY")
    assert (loaded.kid, loaded.alg) == (key.kid, "ES256")
    assert "d" not in key.public_jwk() and key.public_jwk()["kid"] == key.kid


def test_pem_keys_of_both_kinds_load_and_are_named_by_thumbprint_or_the_given_kid() -> None:
    ec_key = load_signing_key(pem(ec.generate_private_key(ec.SECP256R1())), "BFF_CLIENT_KEY")
    assert ec_key.alg == "ES256" and ec_key.kid == ec_key.key.thumbprint()
    rsa_key = load_signing_key(pem(rsa.generate_private_key(65537, 2048)), "BFF_CLIENT_KEY",
                               kid="registered-1")
    assert rsa_key.alg == "RS256" and rsa_key.kid == "registered-1"


def short_rsa_jwk() -> dict[str, str]:
    numbers = rsa.generate_private_key(65537, 1024).private_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode(
            ).rstrip("=")

    return {"kty": "RSA", "n": b64(numbers.public_numbers.n), "e": b64(65537),
            "d": b64(numbers.d), "p": b64(numbers.p), "q": b64(numbers.q)}


@pytest.mark.parametrize(("text", "reason"), [
    (json.dumps(OctKey.generate_key(256).as_dict(private=True)), "cannot sign here"),
    (json.dumps(ECKey.generate_key("P-256").as_dict(private=False)), "public key"),
    (json.dumps(ECKey.generate_key("P-384", private=True).as_dict(private=True)), "P-256"),
    (json.dumps(short_rsa_jwk()), "too short"),
    (pem(rsa.generate_private_key(65537, 1024)), "too short"),
    ("not a key", "neither"),
    ("{not json", "neither"),
    ("[1, 2]", "neither"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "neither"),
])
def test_weak_or_unusable_keys_are_refused_naming_the_setting(text: str, reason: str) -> None:
    with pytest.raises(SigningKeyError, match=rf"BFF_DPOP_KEYS.*{reason}|{reason}.*"):
        load_signing_key(text, "BFF_DPOP_KEYS")
    with pytest.raises(SigningKeyError, match="BFF_DPOP_KEYS"):
        load_signing_key(text, "BFF_DPOP_KEYS")


def test_generate_key_client_prints_a_private_key_that_loads_and_its_public_half(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bff.cli import main

    assert main(["generate-key", "--client"]) == 0
    private, public = (json.loads(line) for line in capsys.readouterr().out.splitlines()
                       if line.startswith("{"))
    loaded = load_signing_key(json.dumps(private), "BFF_CLIENT_KEY")
    assert loaded.public_jwk() == public and "d" not in public
