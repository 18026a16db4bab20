"""The revocation list's decisions as plain data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.revocations import Entry, RevokedSet, parse_entry


def test_entries_round_trip_through_stream_fields_and_junk_is_skipped() -> None:
    entry = Entry("sub", "alice", 2000, not_before=1000)
    assert parse_entry({k.encode(): v.encode() for k, v in entry.fields().items()}) == entry
    for junk in ({}, {"k": "jti"}, {"k": "nope", "v": "x", "exp": "1"},
                 {"k": "jti", "v": "x", "exp": "soon"}, {"k": "jti", "v": "", "exp": "1"}):
        assert parse_entry(junk) is None, junk


def test_a_revoked_jti_is_refused_and_others_pass() -> None:
    revoked = RevokedSet()
    revoked.apply(Entry("jti", "abc", 2000))
    assert revoked.reason({"jti": "abc", "sub": "alice", "iat": 1})
    assert revoked.reason({"jti": "abd", "sub": "alice", "iat": 1}) is None


@given(st.integers(0, 3000), st.integers(0, 3000))
def test_a_user_not_before_refuses_exactly_the_tokens_issued_until_then(
        not_before: int, issued: int) -> None:
    revoked = RevokedSet()
    revoked.apply(Entry("sub", "alice", 10_000, not_before=not_before))
    refused = revoked.reason({"sub": "alice", "iat": issued}) is not None
    assert refused == (issued <= not_before)
    assert revoked.reason({"sub": "bob", "iat": issued}) is None


def test_a_token_without_iat_is_refused_for_a_revoked_user() -> None:
    revoked = RevokedSet()
    revoked.apply(Entry("sub", "alice", 10_000, not_before=5))
    assert revoked.reason({"sub": "alice"})


def test_expired_entries_are_forgotten() -> None:
    revoked = RevokedSet()
    revoked.apply(Entry("jti", "old", 100))
    revoked.apply(Entry("jti", "new", 300))
    revoked.apply(Entry("sub", "alice", 100, not_before=50))
    revoked.forget_expired(200)
    assert list(revoked.jtis) == ["new"] and not revoked.subs
