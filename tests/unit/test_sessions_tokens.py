"""What a refresh response turns into: providers may leave out the rotated refresh token, and
the session must keep the one it has rather than lose it."""

from __future__ import annotations

from bff.sansio.refresh import TokenResponse, TokenSet, token_set

PREVIOUS = TokenSet(access_token="at-0", refresh_token="rt-0",
                    access_expires_at=1300.0, access_issued_at=1000.0, scope=("openid", "a"))


def response(refresh_token: str | None = None, id_token: str | None = None,
             expires_in: int = 600) -> TokenResponse:
    return TokenResponse(access_token="at-1", refresh_token=refresh_token, id_token=id_token,
                         expires_in=expires_in, scope=())


def test_rotated_refresh_token_replaces_the_old_one() -> None:
    tokens = token_set(response(refresh_token="rt-1", id_token="id-1"), PREVIOUS, now=2000.0)
    assert (tokens.access_token, tokens.refresh_token) == ("at-1", "rt-1")


def test_omitted_refresh_token_is_kept() -> None:
    tokens = token_set(response(), PREVIOUS, now=2000.0)
    assert tokens.refresh_token == "rt-0"
    assert tokens.scope == ("openid", "a")


def test_expiry_is_counted_from_the_refresh_not_the_login() -> None:
    tokens = token_set(response(expires_in=60), PREVIOUS, now=2000.0)
    assert (tokens.access_issued_at, tokens.access_expires_at) == (2000.0, 2060.0)


def test_token_set_repr_shows_no_token() -> None:
    tokens = token_set(response(refresh_token="rt-secret"), PREVIOUS, now=2000.0)
    assert not hasattr(tokens, "id_token"), "the ID token is not kept after login"
    assert "rt-secret" not in repr(tokens) and "at-1" not in repr(tokens)
