"""DPoP proof verification (RFC 9449 section 4.3), shared by the reference provider's token
endpoint and the resource-server helpers. No I/O: replay is the caller's (a Redis ``SET NX`` of
the returned ``jti``), and so is the nonce it expects.

PyJWT verifies the signature with the public key the proof carries; joserfc computes its RFC 7638
thumbprint. The rules, each its own refusal: exactly one proof; ``typ: dpop+jwt``; an asymmetric
algorithm from the allow-list (never ``none`` or an HMAC); a public key only; ``htm`` and
``htu`` naming this request (the URI compared without query and fragment, scheme and host
case-insensitively, default ports dropped); ``iat`` within the window; the server's nonce when it
asks for one; and, with an access token, ``ath`` its hash and the key its ``cnf.jkt``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

ALGORITHMS = ("ES256", "ES384", "PS256", "RS256")
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 128


class DpopError(ValueError):
    """The proof is refused; ``error`` is what to answer: ``invalid_dpop_proof`` or
    ``use_dpop_nonce`` (section 8: a nonce is required and this one is absent or stale)."""

    def __init__(self, description: str, error: str = "invalid_dpop_proof") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


@dataclass(frozen=True)
class VerifiedProof:
    jkt: str
    jti: str
    iat: int
    nonce: str | None = None
    """The nonce the proof carried, for a server that checks it itself."""


NONCE_WINDOW = 60


def server_nonce(secret: bytes, now: float, windows_back: int = 0) -> str:
    """A server's DPoP nonce (sections 8 and 9): an HMAC of the current minute under its secret,
    so every instance issues and accepts the same nonces without per-client state."""
    window = int(now // NONCE_WINDOW) - windows_back
    mac = hmac.new(secret, str(window).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def nonce_is_current(secret: bytes, nonce: str | None, now: float) -> bool:
    """This minute's nonce or the last one's (a proof made just before the minute turned)."""
    return bool(nonce) and any(hmac.compare_digest(str(nonce), server_nonce(secret, now, back))
                               for back in (0, 1))


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII."""
    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def normalized_uri(uri: str) -> str:
    """RFC 9449 section 4.3 point 9, via RFC 3986 section 6: lower-case scheme and host, no
    default port, no query or fragment; an empty path is ``/``."""
    parts = urlsplit(uri)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if ":" in (parts.hostname or "") and not host.startswith("["):
        host = f"[{host}]"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638."""
    return JWKRegistry.import_key(jwk).thumbprint()


def verify_proof(proofs: Sequence[str], *, method: str, uri: str, now: float,
                 max_age: float = 300, leeway: float = 5, access_token: str | None = None,
                 expected_jkt: str | None = None, nonce: str | None = None,
                 algorithms: Sequence[str] = ALGORITHMS) -> VerifiedProof:
    """The proof's key thumbprint, ``jti`` and ``iat``, or DpopError naming the broken rule."""
    if len(proofs) != 1:
        raise DpopError("exactly one DPoP proof is required")
    proof = proofs[0]
    if len(proof) > MAX_PROOF_LENGTH:
        raise DpopError("the DPoP proof is too long")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise DpopError("the DPoP proof is not a JWT") from None
    if header.get("typ") != "dpop+jwt":
        raise DpopError("the DPoP proof's typ must be dpop+jwt")
    alg = header.get("alg")
    if alg not in algorithms:
        raise DpopError("the DPoP proof's algorithm is not an accepted asymmetric one")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or PRIVATE_MEMBERS & set(jwk) or jwk.get("kty") not in (
            "EC", "RSA"):
        raise DpopError("the DPoP proof must carry a public EC or RSA key")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
        claims = jwt.decode(proof, key.key, algorithms=[alg],
                            options={"require": ["jti", "htm", "htu", "iat"],
                                     "verify_aud": False, "verify_iat": False})
        jkt = jwk_thumbprint(jwk)
    except (jwt.PyJWTError, JoseError, ValueError, TypeError):
        raise DpopError("the DPoP proof's signature or claims are not valid") from None
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise DpopError("the DPoP proof's jti is not valid")
    if claims.get("htm") != method:
        raise DpopError("the DPoP proof was made for another method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_uri(htu) != normalized_uri(uri):
        raise DpopError("the DPoP proof was made for another URL")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or \
            not now - max_age - leeway <= iat <= now + leeway:
        raise DpopError("the DPoP proof is too old or from the future")
    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise DpopError("a fresh server nonce is required in the DPoP proof", "use_dpop_nonce")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath,
                                                               access_token_hash(access_token)):
            raise DpopError("the DPoP proof does not name this access token (ath)")
    if expected_jkt is not None and not hmac.compare_digest(jkt, expected_jkt):
        raise DpopError("the access token is bound to another key")
    carried = claims.get("nonce")
    return VerifiedProof(jkt=jkt, jti=jti, iat=int(iat),
                         nonce=carried if isinstance(carried, str) else None)
