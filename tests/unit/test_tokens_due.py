from __future__ import annotations

import jwt

from bff.sansio.refresh import (
    TokenResponse,
    TokenSet,
    audience_problem,
    is_refresh_due,
    token_set,
    with_resource_token,
)


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


def test_a_resource_token_not_yet_held_is_due() -> None:
    assert is_refresh_due(tokens(1000, 900), now=1100, skew=60, resource="https://api.example")


def test_a_resource_token_is_due_by_its_own_expiry_not_the_sessions() -> None:
    held = with_resource_token(response("R", "r2", 60), tokens(1000, 900), "https://a", 1000)
    assert not is_refresh_due(held, now=1010, skew=60, resource="https://a")
    assert is_refresh_due(held, now=1031, skew=60, resource="https://a")
    assert not is_refresh_due(held, now=1031, skew=60)


def test_a_resource_refresh_keeps_the_sessions_token_and_takes_the_rotated_refresh_token(
        ) -> None:
    before = tokens(1000, 900)
    after = with_resource_token(response("R", "r2", 300), before, "https://a", 1100)
    assert (after.access_token, after.scope, after.access_expires_at) == (
        before.access_token, before.scope, before.access_expires_at)
    assert after.refresh_token == "r2"
    assert after.access_token_for("https://a") == "R"
    assert after.access_token_for("https://b") is None
    kept = with_resource_token(response("R2", None, 300), after, "https://b", 1200)
    assert kept.refresh_token == "r2", "a provider that does not rotate keeps the one we had"
    assert token_set(response("A2", "r3", 900), kept, 1300).resources == kept.resources


def test_a_token_for_a_resource_must_name_that_resource_alone() -> None:
    def signed(aud: object) -> str:
        return jwt.encode({"sub": "alice", "aud": aud}, "k" * 32, algorithm="HS256")

    assert audience_problem(signed("https://a"), "https://a") is None
    assert audience_problem(signed(["https://a"]), "https://a") is None
    for wrong in ("https://b", ["https://a", "https://b"], "demo-api", None, "https://A"):
        assert audience_problem(signed(wrong), "https://a"), wrong
    assert audience_problem("opaque-token", "https://a") is None, "opaque: the provider's word"


def response(access: str, refresh: str | None, expires_in: int) -> TokenResponse:
    return TokenResponse(access_token=access, refresh_token=refresh, id_token=None,
                         expires_in=expires_in, scope=())
