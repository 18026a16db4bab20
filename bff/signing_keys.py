"""Private keys the BFF signs with: its client assertion key (``private_key_jwt``, RFC 7523)
and its DPoP proof keys (RFC 9449).

A key comes as a private JWK (JSON) or a PEM, an EC P-256 or RSA (2048 bits or more) key;
symmetric keys, public keys and short RSA keys are refused at start-up with the setting's name,
so a deployment never signs with something weaker than it was told. Parsing and thumbprints are
joserfc's (Authlib's JOSE library), never ours.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from bff.sansio.dpop import access_token_hash

MIN_RSA_BITS = 2048
ALGORITHM = {"EC": "ES256", "RSA": "RS256"}


class SigningKeyError(ValueError):
    """A key setting that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class SigningKey:
    """A private key, the ``kid`` it is known by, and the algorithm it signs with."""

    key: ECKey | RSAKey = field(repr=False)
    kid: str
    alg: str

    def public_jwk(self) -> dict[str, Any]:
        """What the provider registers (private_key_jwt) or a proof carries (DPoP)."""
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg,
                "use": "sig"}

    @cached_property
    def thumbprint(self) -> str:
        """RFC 7638: what a DPoP-bound token's ``cnf.jkt`` names."""
        return self.key.thumbprint()

    @cached_property
    def proof_header(self) -> dict[str, Any]:
        """The JOSE header of every DPoP proof made with this key (section 4.2)."""
        return {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False)}

    def private_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=True), "kid": self.kid, "alg": self.alg}


def load_signing_key(text: str, setting: str, kid: str | None = None,
                     rsa_alg: str = "RS256") -> SigningKey:
    """A private JWK or PEM as a ``SigningKey``; ``kid``: the JWK's, else ``kid``, else the
    RFC 7638 thumbprint."""
    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if not isinstance(data, dict):
                raise SigningKeyError(f"{setting} must be a JSON object (a JWK)")
            kty = data.get("kty")
            if kty not in ALGORITHM:
                raise SigningKeyError(f"{setting}: a {kty!r} key cannot sign here; use an EC P-256 "
                                "or RSA private key (`bff generate-key --client` makes one)")
            if kty == "RSA":
                _check_rsa_bits(len(_b64url_bytes(str(data.get("n", "")))) * 8, setting)
            key: ECKey | RSAKey = (ECKey if kty == "EC" else RSAKey).import_key(data)
            kid = data.get("kid") or kid
        else:
            key = _pem_key(text.encode(), setting)
    except (ValueError, TypeError, JoseError) as exc:
        if isinstance(exc, SigningKeyError):
            raise
        raise SigningKeyError(f"{setting} is neither a private JWK nor a PEM private key "
                        f"({type(exc).__name__})") from None
    if not key.is_private:
        raise SigningKeyError(f"{setting} is a public key; the BFF needs the private key")
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise SigningKeyError(f"{setting}: EC keys must be on P-256 (ES256), not {key.curve_name}")
    alg = "ES256" if isinstance(key, ECKey) else rsa_alg
    return SigningKey(key=key, kid=str(kid or key.thumbprint()), alg=alg)


def load_signing_keys(text: str, setting: str) -> tuple[SigningKey, ...]:
    """Several keys in one setting, comma-separated: JWKs (JSON objects, which contain commas
    themselves, so they are read as JSON one after another) or PEM blocks."""
    keys: list[SigningKey] = []
    decoder = json.JSONDecoder()
    rest = text.strip()
    while rest:
        if rest.startswith("{"):
            try:
                data, end = decoder.raw_decode(rest)
            except ValueError:
                raise SigningKeyError(f"{setting}: a JWK is not valid JSON") from None
            keys.append(load_signing_key(json.dumps(data), setting))
            rest = rest[end:].lstrip().removeprefix(",").lstrip()
        else:
            block, _, rest = rest.partition(",")
            keys.append(load_signing_key(block, setting))
            rest = rest.strip()
    return tuple(keys)


def dpop_proof(key: SigningKey, htm: str, htu: str, *, access_token: str | None = None,
               nonce: str | None = None) -> str:
    """A DPoP proof (RFC 9449 section 4.2): a fresh ``jti`` and ``iat``, the method and the
    target URI without query and fragment, ``ath`` when it accompanies an access token, and the
    server's nonce when it asked for one. The public key travels in the header."""
    parts = urlsplit(htu)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16), "htm": htm,
        "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        "iat": int(time.time()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(claims, key.key.private_key, algorithm=key.alg, headers=key.proof_header)


def _pem_key(pem: bytes, setting: str) -> ECKey | RSAKey:
    """Read by cryptography first, so a short RSA key is refused before anything uses it."""
    try:
        parsed = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"{setting} is neither a private JWK nor an unencrypted EC or "
                              "RSA PEM private key") from None
    if isinstance(parsed, rsa.RSAPrivateKey):
        _check_rsa_bits(parsed.key_size, setting)
        return RSAKey.import_key(pem)
    if isinstance(parsed, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(pem)
    raise SigningKeyError(f"{setting}: a {type(parsed).__name__} cannot sign here; use an EC "
                          "P-256 or RSA private key")


def _check_rsa_bits(bits: int, setting: str) -> None:
    if bits < MIN_RSA_BITS:
        raise SigningKeyError(f"{setting}: an RSA key of {bits} bits is too short; use "
                              f"{MIN_RSA_BITS} bits or more")


def _b64url_bytes(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        return b""


def generate_signing_key() -> SigningKey:
    """A fresh EC P-256 key (ES256), named by its thumbprint."""
    key = ECKey.generate_key("P-256", private=True)
    return SigningKey(key=key, kid=key.thumbprint(), alg="ES256")
