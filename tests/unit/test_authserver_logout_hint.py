"""The decision alone: which verified hints may end a provider session without a prompt."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bff.authserver.logout_hint import honours_id_token_hint

ISSUER = "https://login.example"
NOW = 1_800_000_000.0
GOOD = {"iss": ISSUER, "sub": "alice", "aud": "bff-demo", "exp": int(NOW) + 60, "iat": int(NOW)}


def decide(header: dict[str, Any], claims: dict[str, Any], session_sub: str | None = "alice",
           client_id: str | None = "bff-demo") -> bool:
    return honours_id_token_hint(header, claims, issuer=ISSUER, client_id=client_id,
                                 session_sub=session_sub, now=NOW, grace=3600)


def test_the_browsers_own_id_token_is_honoured() -> None:
    assert decide({"alg": "RS256"}, GOOD)
    assert decide({"typ": "JWT"}, {**GOOD, "exp": int(NOW) - 3600})


claims_strategy = st.fixed_dictionaries({}, optional={
    "iss": st.sampled_from([ISSUER, "https://evil.example", ""]),
    "sub": st.sampled_from(["alice", "bob", ""]),
    "aud": st.sampled_from(["bff-demo", "other-app", ["bff-demo"], ["bff-demo", "other-app"],
                            []]),
    "azp": st.sampled_from(["bff-demo", "other-app"]),
    "exp": st.integers(min_value=int(NOW) - 10 * 3600, max_value=int(NOW) + 3600),
    "scope": st.just("openid"),
    "client_id": st.just("bff-demo"),
})


@settings(max_examples=800, deadline=None)
@given(st.sampled_from([None, "JWT", "at+jwt", "logout+jwt", "dpop+jwt"]), claims_strategy,
       st.sampled_from(["alice", "bob", None]), st.sampled_from(["bff-demo", "other-app", None]))
def test_a_hint_is_honoured_only_as_this_clients_id_token_for_this_browsers_user(
        typ: str | None, claims: dict[str, Any], session_sub: str | None,
        client_id: str | None) -> None:
    header = {"alg": "RS256", **({"typ": typ} if typ else {})}
    if not decide(header, claims, session_sub, client_id):
        return
    assert typ in (None, "JWT")
    assert "scope" not in claims and "client_id" not in claims
    assert claims["iss"] == ISSUER and claims["sub"] == session_sub is not None
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    assert client_id in audiences
    assert len(audiences) == 1 or claims.get("azp") == client_id
    assert NOW - claims["exp"] <= 3600
