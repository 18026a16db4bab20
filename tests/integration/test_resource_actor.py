"""The resource helpers and the ``act`` claim (RFC 8693 section 4.1): an exchanged token names
its actor, an API can insist on one, and a malformed ``act`` is refused, not ignored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bff.resource.errors import InvalidToken
from bff.resource.settings import ValidatorSettings
from bff.resource.testing import LocalIssuer
from bff.resource.validation import TokenValidator


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


def validator(issuer: LocalIssuer, actor: str | None = None) -> TokenValidator:
    return TokenValidator(ValidatorSettings(issuer=issuer.url, audience="demo-api",
                                            required_actor=actor))


def test_an_exchanged_token_names_its_actor_and_a_direct_one_none(issuer: LocalIssuer) -> None:
    plain = validator(issuer)
    assert plain.validate(issuer.mint()).actor is None
    exchanged = issuer.mint(claims={"act": {"sub": "orders-api", "act": {"sub": "gateway"}}})
    assert plain.validate(exchanged).actor == "orders-api"


def test_an_api_that_requires_an_actor_refuses_direct_and_other_actors_tokens(
        issuer: LocalIssuer) -> None:
    strict = validator(issuer, actor="orders-api")
    assert strict.validate(issuer.mint(claims={"act": {"sub": "orders-api"}})).sub == "alice"
    for act in (None, {"sub": "billing-api"}, {"sub": "ORDERS-API"}):
        with pytest.raises(InvalidToken, match="expected actor"):
            strict.validate(issuer.mint(claims={"act": act}))


@pytest.mark.parametrize("act", ["orders-api", ["orders-api"], {"client_id": "orders-api"},
                                 {"sub": ""}, {"sub": 7}])
def test_a_malformed_act_claim_is_refused(issuer: LocalIssuer, act: object) -> None:
    with pytest.raises(InvalidToken, match="act claim"):
        validator(issuer).validate(issuer.mint(claims={"act": act}))
