"""Token exchange decisions (RFC 8693) as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.authserver.resources import InvalidTargetError
from bff.authserver.token_exchange import actor_claim, exchange_target, exchanged_scope

SCOPES = st.lists(st.sampled_from(["orders:read", "orders:write", "stock:read", "openid"]),
                  max_size=4).map(" ".join)


@given(SCOPES, SCOPES, st.lists(st.sampled_from(["orders:read", "stock:read"]), max_size=2))
def test_an_exchanged_scope_is_never_wider_than_the_subject_or_the_client(
        requested: str, subject: str, client: list[str]) -> None:
    result = set(exchanged_scope(requested or None, subject, tuple(client)).split())
    assert result <= set(subject.split()) & set(client)
    if requested:
        assert result <= set(requested.split())


def test_one_target_within_the_policy() -> None:
    policy = ("https://stock.test",)
    assert exchange_target(["https://stock.test"], [], policy) == "https://stock.test"
    assert exchange_target(["https://stock.test"], ["https://stock.test"], policy) == \
        "https://stock.test"
    for audiences, resources in ((["https://other.test"], []), ([], []),
                                 (["https://stock.test"], ["https://other.test"])):
        with pytest.raises(InvalidTargetError):
            exchange_target(audiences, resources, policy)


def test_a_prior_actor_is_nested_under_the_current_one() -> None:
    assert actor_claim("orders-api", {"sub": "alice"}) == {"sub": "orders-api"}
    assert actor_claim("stock-api", {"act": {"sub": "orders-api"}}) == {
        "sub": "stock-api", "act": {"sub": "orders-api"}}
