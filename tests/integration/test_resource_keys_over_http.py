"""TokenValidator against a real issuer over HTTP: discovery, JWKS refetch limits, outages."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from bff.resource import InvalidToken, TokenValidator, ValidationUnavailable, ValidatorSettings
from bff.resource.testing import LocalIssuer
from tests.support import free_port


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as issuer:
        yield issuer


def validator_for(issuer_url: str, **settings: object) -> TokenValidator:
    return TokenValidator(ValidatorSettings(issuer=issuer_url, audience="demo-api",
                                            **settings))  # type: ignore[arg-type]


def test_keys_are_found_by_discovery_and_fetched_once(issuer: LocalIssuer) -> None:
    validator = validator_for(issuer.url)
    for _ in range(20):
        assert validator.validate(issuer.mint("alice")).sub == "alice"
    assert issuer.jwks_fetches == 1


def test_unknown_kid_flood_does_not_hammer_the_issuer(issuer: LocalIssuer) -> None:
    validator = validator_for(issuer.url, jwks_refetch_interval=3600)
    validator.validate(issuer.mint("alice"))
    for _ in range(50):
        header = {"kid": secrets.token_hex(8)}
        with pytest.raises(InvalidToken, match="unknown key"):
            validator.validate(issuer.mint("mallory", header=header))
    assert issuer.jwks_fetches == 1


def test_rotated_key_is_picked_up_by_a_refetch(issuer: LocalIssuer) -> None:
    validator = validator_for(issuer.url, jwks_refetch_interval=0)
    validator.validate(issuer.mint("alice"))
    rotated = issuer.new_key("ES256")
    issuer.withdraw(issuer.default_key)
    assert validator.validate(issuer.mint("alice", key=rotated)).sub == "alice"
    assert issuer.jwks_fetches == 2


def test_rotation_waits_for_the_refetch_interval(issuer: LocalIssuer) -> None:
    validator = validator_for(issuer.url, jwks_refetch_interval=3600)
    validator.validate(issuer.mint("alice"))
    rotated = issuer.new_key()
    with pytest.raises(InvalidToken, match="unknown key"):
        validator.validate(issuer.mint("alice", key=rotated))
    assert issuer.jwks_fetches == 1


def test_discovery_document_naming_another_issuer_is_refused(issuer: LocalIssuer) -> None:
    lookalike = issuer.url + "/"
    validator = validator_for(lookalike)
    with pytest.raises(ValidationUnavailable):
        validator.validate(issuer.mint("alice", claims={"iss": lookalike}))
    assert issuer.jwks_fetches == 0


def test_unreachable_issuer_means_unavailable(issuer: LocalIssuer) -> None:
    validator = validator_for(f"http://127.0.0.1:{free_port()}", http_timeout=2)
    with pytest.raises(ValidationUnavailable):
        validator.validate(issuer.mint("alice"))


def test_keys_already_fetched_survive_an_issuer_outage() -> None:
    with LocalIssuer() as issuer:
        validator = validator_for(issuer.url, jwks_max_age=0.001, jwks_refetch_interval=0,
                                  http_timeout=2)
        validator.validate(issuer.mint("alice"))
        token = issuer.mint("alice")
    assert validator.validate(token).sub == "alice"


def test_explicit_jwks_uri_skips_discovery(issuer: LocalIssuer) -> None:
    validator = validator_for(issuer.url, jwks_uri=f"{issuer.url}/jwks")
    assert validator.validate(issuer.mint("alice")).sub == "alice"
