"""The reference provider's resource-indicator decisions (RFC 8707) as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.authserver.resources import (
    InvalidTargetError,
    asked_resources,
    granted_at_authorization,
    token_audience,
)

REGISTERED = ("https://a.test", "https://b.test")
uris = st.sampled_from([*REGISTERED, "https://c.test", "https://A.test", "https://a.test/"])


def test_repeated_parameters_are_all_read() -> None:
    assert asked_resources({"resource": ["https://a.test", "https://b.test"]}) == list(REGISTERED)
    assert asked_resources({}) == [] and asked_resources(None) == []


@given(st.lists(uris, max_size=4))
def test_an_authorization_covers_only_registered_resources(asked: list[str]) -> None:
    if set(asked) <= set(REGISTERED):
        assert set(granted_at_authorization(asked, REGISTERED)) == set(asked)
    else:
        with pytest.raises(InvalidTargetError):
            granted_at_authorization(asked, REGISTERED)


@given(st.lists(uris, max_size=3), st.lists(st.sampled_from(REGISTERED), max_size=2))
def test_a_token_names_one_resource_the_grant_covers_or_none(asked: list[str],
                                                             granted: list[str]) -> None:
    allowed = set(granted or REGISTERED)
    if not asked:
        assert token_audience(asked, granted, REGISTERED) is None
    elif len(asked) == 1 and asked[0] in allowed:
        assert token_audience(asked, granted, REGISTERED) == asked[0]
    else:
        with pytest.raises(InvalidTargetError):
            token_audience(asked, granted, REGISTERED)
