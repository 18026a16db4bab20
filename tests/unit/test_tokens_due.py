from __future__ import annotations

from bff.sansio.refresh import TokenSet, is_refresh_due


def tokens(issued: float, lifetime: float) -> TokenSet:
    return TokenSet(access_token="a", refresh_token="r",
                    access_expires_at=issued + lifetime, access_issued_at=issued, scope=())


def test_fresh_token_is_not_due() -> None:
    assert not is_refresh_due(tokens(1000, 900), now=1100, skew=60)


def test_token_within_skew_of_expiry_is_due() -> None:
    assert is_refresh_due(tokens(1000, 900), now=1000 + 900 - 59, skew=60)


def test_expired_token_is_due() -> None:
    assert is_refresh_due(tokens(1000, 900), now=5000, skew=60)


def test_skew_longer_than_lifetime_does_not_refresh_every_request() -> None:
    # A 60 s token with a 300 s skew: just after issue it must not be due again.
    assert not is_refresh_due(tokens(1000, 60), now=1001, skew=300)
    assert is_refresh_due(tokens(1000, 60), now=1031, skew=300)
