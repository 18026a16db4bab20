"""The relying party's pure decisions: client authentication, RFC 8414 locations, userinfo."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.oidc_rules import (
    NoUsableClientAuth,
    ParUnavailable,
    authorization_response_problem,
    authorization_server_metadata_urls,
    basic_authorization,
    choose_client_auth,
    id_token_problem,
    logout_token_problem,
    needs_userinfo,
    par_endpoint_to_use,
)


def decoded(header: str) -> tuple[str, str]:
    """What a conforming provider does (RFC 6749 2.3.1): base64, split at ':', form-decode."""
    raw = base64.b64decode(header.removeprefix("Basic ")).decode()
    client_id, _, secret = raw.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


@pytest.mark.parametrize("secret", ["a+b/c%d=e", "with space", "colon:inside", "é+ü", "%2B"])
def test_client_secret_basic_form_urlencodes_id_and_secret_rfc6749_section_2_3_1(
        secret: str) -> None:
    """RFC 6749 section 2.3.1 and Appendix B: encoded with application/x-www-form-urlencoded
    before base64. Authlib sends the raw values, which a conforming provider decodes wrongly."""
    header = basic_authorization("bff:client id", secret)
    assert decoded(header) == ("bff:client id", secret)
    assert "+" not in base64.b64decode(header.removeprefix("Basic ")).decode().split(":")[1] \
        or " " in secret


@given(st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_any_client_id_and_secret_survive_basic_encoding(client_id: str, secret: str) -> None:
    assert decoded(basic_authorization(client_id, secret)) == (client_id, secret)


@pytest.mark.parametrize(("advertised", "forced", "chosen"), [
    (None, None, "client_secret_basic"),
    (["client_secret_post"], None, "client_secret_post"),
    (["private_key_jwt", "client_secret_post", "client_secret_basic"], None,
     "client_secret_post"),
    (["client_secret_basic", "client_secret_post"], "client_secret_post", "client_secret_post"),
])
def test_client_auth_comes_from_discovery_unless_forced(advertised: list[str] | None,
                                                        forced: str | None, chosen: str) -> None:
    assert choose_client_auth(advertised, forced) == chosen


def test_a_provider_with_only_unsupported_methods_is_named() -> None:
    with pytest.raises(NoUsableClientAuth, match="tls_client_auth"):
        choose_client_auth(["tls_client_auth"], None)


@pytest.mark.parametrize(("issuer", "urls"), [
    ("https://login.example", ["https://login.example/.well-known/oauth-authorization-server"]),
    ("https://login.example/", ["https://login.example/.well-known/oauth-authorization-server"]),
    ("https://h.example/o", ["https://h.example/.well-known/oauth-authorization-server/o",
                             "https://h.example/o/.well-known/oauth-authorization-server"]),
])
def test_rfc8414_metadata_is_looked_up_with_path_insertion_first(issuer: str,
                                                                 urls: list[str]) -> None:
    assert authorization_server_metadata_urls(issuer) == urls


WANTED = ("sub", "name", "email", "preferred_username")


@pytest.mark.parametrize(("mode", "claims", "needed"), [
    ("auto", {"sub": "a"}, True),
    ("auto", {"sub": "a", "name": "A"}, True),
    ("auto", {"sub": "a", "name": "A", "email": "a@x"}, False),
    ("never", {"sub": "a"}, False),
    ("always", {"sub": "a", "name": "A", "email": "a@x"}, True),
])
def test_userinfo_is_asked_when_a_requested_scope_brought_none_of_its_claims(
        mode: str, claims: dict[str, str], needed: bool) -> None:
    assert needs_userinfo(mode, ("openid", "profile", "email"), claims, WANTED) is needed


BACKCHANNEL = "http://schemas.openid.net/event/backchannel-logout"


@pytest.mark.parametrize(("claims", "nonce", "problem"), [
    ({"aud": "bff"}, None, None),
    ({"aud": ["bff", "other"], "azp": "bff"}, None, None),
    ({"aud": ["bff", "other"]}, None, "other audiences"),
    ({"aud": "bff", "azp": "other"}, None, "another client"),
    ({"aud": "bff", "nonce": "n1"}, "n2", "nonce"),
    ({"aud": "bff", "nonce": "n1"}, "n1", None),
])
def test_id_token_claims_beyond_the_signature(claims: dict[str, object], nonce: str | None,
                                              problem: str | None) -> None:
    found = id_token_problem(claims, "bff", nonce)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(("claims", "problem"), [
    ({"events": {BACKCHANNEL: {}}, "sid": "s", "iat": 1000}, None),
    ({"events": {}, "sid": "s", "iat": 1000}, "no back-channel logout event"),
    ({"events": {BACKCHANNEL: {}}, "sid": "s", "iat": 1000, "nonce": "n"}, "nonce"),
    ({"events": {BACKCHANNEL: {}}, "iat": 1000}, "neither a sid nor a sub"),
    ({"events": {BACKCHANNEL: {}}, "sub": "a", "iat": 500}, "too old"),
])
def test_logout_token_claims(claims: dict[str, object], problem: str | None) -> None:
    found = logout_token_problem(claims, now=1000, max_age=300, event=BACKCHANNEL)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(("iss", "promised", "refused"), [
    ("https://op", True, False), (None, False, False), ("https://evil", False, True),
    (None, True, True), ("https://op/", True, True),
])
def test_the_authorization_response_issuer_rfc9207(iss: str | None, promised: bool,
                                                   refused: bool) -> None:
    assert (authorization_response_problem(iss, "https://op", promised) is not None) is refused


@pytest.mark.parametrize(("mode", "metadata", "pushed"), [
    ("auto", {"pushed_authorization_request_endpoint": "https://op/par"}, "https://op/par"),
    ("auto", {}, None),
    ("required", {"pushed_authorization_request_endpoint": "https://op/par"}, "https://op/par"),
    ("off", {"pushed_authorization_request_endpoint": "https://op/par"}, None),
    ("off", {"pushed_authorization_request_endpoint": "https://op/par",
             "require_pushed_authorization_requests": True}, "https://op/par"),
    ("auto", {"pushed_authorization_request_endpoint": ""}, None),
])
def test_where_authorization_requests_are_pushed(mode: str, metadata: dict[str, object],
                                                 pushed: str | None) -> None:
    assert par_endpoint_to_use(mode, metadata) == pushed


@pytest.mark.parametrize(("mode", "metadata"), [
    ("required", {}),
    ("auto", {"require_pushed_authorization_requests": True}),
    ("off", {"require_pushed_authorization_requests": True}),
])
def test_pushing_required_without_an_endpoint_is_refused(mode: str,
                                                         metadata: dict[str, object]) -> None:
    with pytest.raises(ParUnavailable):
        par_endpoint_to_use(mode, metadata)


def test_private_key_jwt_is_chosen_only_when_a_key_is_configured() -> None:
    offered = ["private_key_jwt", "client_secret_basic"]
    assert choose_client_auth(offered, None, has_key=True) == "private_key_jwt"
    assert choose_client_auth(offered, None, has_key=False) == "client_secret_basic"
    assert choose_client_auth(offered, None, has_key=True, has_secret=False) == \
        "private_key_jwt"
    with pytest.raises(NoUsableClientAuth, match="BFF_CLIENT_KEY"):
        choose_client_auth(["client_secret_basic"], None, has_key=True, has_secret=False)
