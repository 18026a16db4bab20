"""TokenValidator over locally made keys: every forged, stale or misdirected token is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning

from bff.resource.errors import InvalidToken, ValidationUnavailable
from bff.resource.fetching import FetchFailed
from bff.resource.introspection import Introspector
from bff.resource.jwks import JwksCache
from bff.resource.settings import ValidatorSettings
from bff.resource.testing import (
    SigningKey,
    TokenMint,
    forge_hmac_with_public_key,
    forge_unsigned,
)
from bff.resource.validation import TokenValidator, parse_scopes

ISSUER = "https://issuer.test"
AUDIENCE = "demo-api"


@pytest.fixture(scope="module")
def mint() -> TokenMint:
    return TokenMint(ISSUER, audience=AUDIENCE)


def make_validator(jwks: Callable[[], object], introspector: Introspector | None = None,
                   **settings: object) -> TokenValidator:
    return TokenValidator(
        ValidatorSettings(issuer=ISSUER, audience=AUDIENCE, **settings),  # type: ignore[arg-type]
        keys=JwksCache(jwks, refetch_interval=3600),
        introspector=introspector,
    )


@pytest.fixture
def validator(mint: TokenMint) -> TokenValidator:
    return make_validator(mint.jwks)


def refused(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        validator.validate(token)
    return caught.value.description


def test_valid_token_yields_typed_result(mint: TokenMint, validator: TokenValidator) -> None:
    token = validator.validate(mint.mint("alice", "orders:read orders:write"))
    assert token.sub == "alice"
    assert token.scopes == {"orders:read", "orders:write"}
    assert token.client_id == "bff"
    assert token.issuer == ISSUER
    assert token.audiences == (AUDIENCE,)
    assert token.expires_at > time.time()
    assert token.has_scopes(["orders:read"]) and not token.has_scopes(["admin"])
    with pytest.raises(TypeError):
        token.claims["sub"] = "mallory"  # type: ignore[index]


def test_es256_token_is_accepted(mint: TokenMint, validator: TokenValidator) -> None:
    key = mint.new_key("ES256")
    assert validator.validate(mint.mint("bob", key=key)).sub == "bob"


def test_alg_none_token_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    unsigned = forge_unsigned(mint.mint("alice"))
    assert jwt.get_unverified_header(unsigned)["alg"] == "none"
    assert "algorithm" in refused(validator, unsigned)


def test_hmac_signed_with_public_key_is_rejected(mint: TokenMint,
                                                 validator: TokenValidator) -> None:
    public = mint.default_key.private_key.public_key()
    token = mint.mint("mallory", "orders:read orders:write")
    for secret in (
        public.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(mint.jwks()["keys"][0]).encode(),
    ):
        assert "algorithm" in refused(validator, forge_hmac_with_public_key(token, secret))


def test_header_alg_differing_from_the_keys_own_is_rejected(mint: TokenMint) -> None:
    """An ES256 token naming an RSA key's kid must not be checked with that RSA key."""
    es_key = SigningKey.generate("ES256", kid=mint.default_key.kid)
    validator = make_validator(mint.jwks)
    assert "algorithm" in refused(validator, mint.mint("alice", key=es_key))


def test_attacker_key_under_a_published_kid_is_rejected(mint: TokenMint,
                                                        validator: TokenValidator) -> None:
    impostor = SigningKey.generate("RS256", kid=mint.default_key.kid)
    assert "signature" in refused(validator, mint.mint("alice", key=impostor))


def test_embedded_jwk_header_is_not_trusted(mint: TokenMint, validator: TokenValidator) -> None:
    attacker = mint.new_key(publish=False)
    token = mint.mint("alice", key=attacker, header={"jwk": attacker.public_jwk(),
                                                     "jku": "https://evil.test/jwks"})
    assert "unknown key" in refused(validator, token)


def test_wrong_issuer_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    token = mint.mint("alice", claims={"iss": "https://evil.test"})
    assert "issuer" in refused(validator, token)


def test_wrong_audience_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    token = mint.mint("alice", claims={"aud": "billing-api"})
    assert "audience" in refused(validator, token)


def test_audience_list_including_ours_is_accepted(mint: TokenMint,
                                                  validator: TokenValidator) -> None:
    token = validator.validate(mint.mint("alice", claims={"aud": ["billing-api", AUDIENCE]}))
    assert token.audiences == ("billing-api", AUDIENCE)


def test_expired_token_beyond_leeway_is_rejected(mint: TokenMint,
                                                 validator: TokenValidator) -> None:
    now = int(time.time())
    token = mint.mint("alice", claims={"iat": now - 600, "exp": now - 120})
    assert "expired" in refused(validator, token)


def test_token_expired_within_leeway_is_accepted(mint: TokenMint,
                                                 validator: TokenValidator) -> None:
    now = int(time.time())
    token = mint.mint("alice", claims={"iat": now - 600, "exp": now - 5})
    assert validator.validate(token).sub == "alice"


def test_not_yet_valid_token_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    token = mint.mint("alice", claims={"nbf": int(time.time()) + 600})
    assert "not valid yet" in refused(validator, token)


def test_token_issued_in_the_future_is_rejected(mint: TokenMint,
                                                validator: TokenValidator) -> None:
    now = int(time.time())
    token = mint.mint("alice", claims={"iat": now + 600, "exp": now + 900})
    assert "not valid yet" in refused(validator, token)


@pytest.mark.parametrize("typ", ["JWT", "id_token+jwt", "at+jwt-ish", None])
def test_wrong_typ_is_rejected(mint: TokenMint, validator: TokenValidator,
                               typ: str | None) -> None:
    token = mint.mint("alice", header={"typ": typ})
    assert "typ" in refused(validator, token)


def test_typ_with_media_type_prefix_is_accepted(mint: TokenMint,
                                                validator: TokenValidator) -> None:
    token = mint.mint("alice", header={"typ": "application/AT+JWT"})
    assert validator.validate(token).sub == "alice"


def test_typ_check_can_be_switched_off(mint: TokenMint) -> None:
    validator = make_validator(mint.jwks, required_typ=None)
    assert validator.validate(mint.mint("alice", header={"typ": "JWT"})).sub == "alice"


def test_token_without_kid_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    token = mint.mint("alice", header={"kid": None})
    assert "kid" in refused(validator, token)


def test_unknown_kid_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    unpublished = mint.new_key(publish=False)
    assert "unknown key" in refused(validator, mint.mint("alice", key=unpublished))


def test_tampered_signature_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    head, body, signature = mint.mint("alice").split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    tampered = f"{head}.{body}.{signature[:10]}{flipped}{signature[11:]}"
    assert "signature" in refused(validator, tampered)


def test_tampered_payload_is_rejected(mint: TokenMint, validator: TokenValidator) -> None:
    head, _, signature = mint.mint("bob", "orders:read").split(".")
    _, forged_body, _ = mint.mint("bob", "orders:read orders:write admin").split(".")
    assert "signature" in refused(validator, f"{head}.{forged_body}.{signature}")


def test_token_signed_with_short_rsa_key_is_rejected(mint: TokenMint) -> None:
    weak = SigningKey("weak", "RS256", rsa.generate_private_key(public_exponent=65537,
                                                                 key_size=1024))
    validator = make_validator(lambda: {"keys": [weak.public_jwk()]})
    with pytest.warns(InsecureKeyLengthWarning):
        token = mint.mint("alice", key=weak)
    assert "signing key" in refused(validator, token)


@pytest.mark.parametrize("claim", ["exp", "sub", "iat", "jti", "client_id", "aud", "iss"])
def test_token_lacking_a_required_claim_is_rejected(mint: TokenMint, validator: TokenValidator,
                                                    claim: str) -> None:
    token = mint.mint("alice", claims={claim: None})
    assert claim in refused(validator, token)


def test_exp_is_required_even_when_settings_drop_it(mint: TokenMint) -> None:
    validator = make_validator(mint.jwks, required_claims=())
    assert "exp" in refused(validator, mint.mint("alice", claims={"exp": None}))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "....", "eyJhbGciOi.x.y"])
def test_malformed_token_is_rejected(validator: TokenValidator, garbage: str) -> None:
    assert refused(validator, garbage)


def test_error_descriptions_never_echo_the_token(mint: TokenMint,
                                                 validator: TokenValidator) -> None:
    now = int(time.time())
    nasty_kid = 'evil" , error="none'
    tokens = [
        mint.mint("alice", claims={"exp": now - 600, "iat": now - 900}),
        mint.mint("alice", claims={"aud": "other"}),
        mint.mint("alice", header={"kid": nasty_kid}),
        mint.mint("alice", header={"typ": "JWT"}),
        mint.mint("alice", claims={"jti": None}),
    ]
    for token in tokens:
        description = refused(validator, token)
        assert all(part not in description for part in token.split(".") if part)
        assert nasty_kid not in description and '"' not in description


def test_unreachable_keys_mean_unavailable_not_invalid(mint: TokenMint) -> None:
    def down() -> object:
        raise FetchFailed("connection refused")

    with pytest.raises(ValidationUnavailable):
        make_validator(down).validate(mint.mint("alice"))


def test_revoked_token_is_rejected_when_introspection_is_on(mint: TokenMint) -> None:
    asked: list[str] = []

    def issuer_says_inactive(token: str) -> dict[str, object]:
        asked.append(token)
        return {"active": False}

    validator = make_validator(mint.jwks, introspector=Introspector(issuer_says_inactive))
    token = mint.mint("alice")
    assert "no longer active" in refused(validator, token)
    assert asked == [token]


def test_introspection_is_not_asked_about_offline_invalid_tokens(mint: TokenMint) -> None:
    asked: list[str] = []
    validator = make_validator(
        mint.jwks, introspector=Introspector(lambda t: asked.append(t) or {"active": True})
    )
    refused(validator, mint.mint("alice", claims={"aud": "other"}))
    assert asked == []


def test_introspection_outage_means_unavailable(mint: TokenMint) -> None:
    def down(token: str) -> dict[str, object]:
        raise FetchFailed("timeout")

    validator = make_validator(mint.jwks, introspector=Introspector(down))
    with pytest.raises(ValidationUnavailable):
        validator.validate(mint.mint("alice"))


def test_scopes_parse_from_string_or_list() -> None:
    assert parse_scopes("a  b c") == {"a", "b", "c"}
    assert parse_scopes(["a", "b"]) == {"a", "b"}
    assert parse_scopes(None) == frozenset()
    for bad in (42, ["a", 1], {"a": 1}):
        with pytest.raises(InvalidToken):
            parse_scopes(bad)
