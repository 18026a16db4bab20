"""The audit's judgements as plain functions: each rule passes what is right and names what
is wrong (no server needed)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from bff.audit import (
    cookie_problems,
    discovery_candidates,
    header_problems,
    hsts_problem,
    is_pushed,
    login_form,
    login_request_problems,
    sender_constraint_checks,
    token_findings,
)

GOOD_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer"}


def test_a_host_prefixed_secure_httponly_lax_session_cookie_passes() -> None:
    header = "__Host-bff=abc; Secure; HttpOnly; Path=/; SameSite=Lax"
    assert cookie_problems(header, https=True, session=True) == []


@pytest.mark.parametrize("header,problem", [
    ("bff=abc; Path=/; SameSite=Lax", "lacks HttpOnly"),
    ("bff=abc; HttpOnly; Path=/", "SameSite=unset"),
    ("bff=abc; HttpOnly; Path=/; SameSite=None; Secure", "SameSite=none"),
    ("__Host-bff=abc; HttpOnly; Path=/; SameSite=Lax", "lacks Secure"),
    ("bff=abc; HttpOnly; Secure; Path=/; SameSite=Lax", "lacks the __Host- prefix"),
    ("__Host-bff=abc; HttpOnly; Secure; Path=/app; SameSite=Lax", "Path=/app"),
    ("__Host-bff=abc; HttpOnly; Secure; Path=/; SameSite=Lax; Domain=example.com",
     "Domain attribute"),
])
def test_a_weak_session_cookie_is_named_for_what_it_lacks(header: str, problem: str) -> None:
    assert any(problem in p for p in cookie_problems(header, https=True, session=True))


def test_hsts_must_be_present_and_long() -> None:
    assert hsts_problem("max-age=31536000; includeSubDomains") is None
    assert hsts_problem("max-age=300") is not None
    assert hsts_problem(None) is not None


def test_bff_answers_must_be_uncached_unsniffed_referrer_free_and_never_cors() -> None:
    assert header_problems("/bff/user", GOOD_HEADERS) == []
    cached = {**GOOD_HEADERS, "Cache-Control": "private, max-age=60"}
    assert header_problems("/bff/user", cached) == ["/bff/user: Cache-Control lacks no-store"]
    cors = {**GOOD_HEADERS, "Access-Control-Allow-Origin": "*"}
    assert header_problems("/bff/user", cors) == ["/bff/user: grants CORS (*)"]
    leaky = {**GOOD_HEADERS, "Referrer-Policy": "unsafe-url"}
    assert header_problems("/bff/login", leaky) == ["/bff/login: Referrer-Policy is unsafe-url"]


def test_tokens_are_found_by_shape_and_by_field_name() -> None:
    assert token_findings('{"sub": "alice", "name": "Alice"}') == []
    assert token_findings("/logout?id_token_hint=eyJhbGciOi.eyJzdWIiOi.c2ln") == [
        "a JWT-shaped string (eyJhbGciOi.eyJzd...)"]
    assert token_findings('{"refresh_token": "opaque"}') == ["a field named refresh_token"]


def authorize_url(**overrides: str) -> str:
    params = {"response_type": "code", "code_challenge_method": "S256",
              "code_challenge": "x" * 43, "state": "s" * 43, "nonce": "n" * 43,
              "redirect_uri": "https://app.example/bff/callback", **overrides}
    return f"https://idp.example/authorize?{urlencode(params)}"


def test_a_code_flow_with_pkce_s256_back_to_the_same_origin_passes() -> None:
    assert login_request_problems(authorize_url(), "https://app.example") == []


@pytest.mark.parametrize("overrides,problem", [
    ({"code_challenge_method": "plain"}, "no PKCE S256"),
    ({"response_type": "token"}, "response_type=token"),
    ({"state": "1"}, "state missing or too short"),
    ({"redirect_uri": "https://evil.example/bff/callback"}, "is not on https://app.example"),
    ({"client_secret": "s3cret"}, "client_secret in the browser's URL"),
])
def test_a_weak_authorization_request_is_named(overrides: dict[str, str], problem: str) -> None:
    problems = login_request_problems(authorize_url(**overrides), "https://app.example")
    assert any(problem in p for p in problems)
    assert "s3cret" not in " ".join(problems)


def test_discovery_is_looked_for_above_the_authorization_endpoint() -> None:
    assert discovery_candidates(
        "https://kc.example/realms/demo/protocol/openid-connect/auth") == [
        "https://kc.example/realms/demo/protocol/openid-connect/.well-known/openid-configuration",
        "https://kc.example/realms/demo/protocol/.well-known/openid-configuration",
        "https://kc.example/realms/demo/.well-known/openid-configuration",
        "https://kc.example/realms/.well-known/openid-configuration",
        "https://kc.example/.well-known/openid-configuration",
    ]


def test_the_login_form_is_the_one_with_a_password_field() -> None:
    page = ('<form action="/search"><input name="q"></form>'
            '<form method="post" action="/login?x=1"><input type="hidden" name="csrf_token" '
            'value="t"><input name="username"><input type="password" name="password"></form>')
    assert login_form(page, "alice", "pw") == (
        "/login?x=1", {"csrf_token": "t", "username": "alice", "password": "pw"})
    assert login_form("<p>no form</p>", "alice", "pw") is None


def test_a_pushed_authorization_request_carries_nothing_to_judge_in_the_url() -> None:
    pushed = "https://op.example/authorize?" + urlencode(
        {"client_id": "bff", "request_uri": "urn:ietf:params:oauth:request_uri:abc"})
    assert is_pushed({"client_id": "bff", "request_uri": "urn:x"})
    assert login_request_problems(pushed, "https://app.example") == []
    smuggled = pushed + "&redirect_uri=https://evil.example/cb"
    assert not is_pushed({"client_id": "bff", "request_uri": "urn:x",
                          "redirect_uri": "https://evil.example/cb"})
    assert any("redirect_uri" in p for p in login_request_problems(smuggled,
                                                                  "https://app.example"))


def test_the_providers_dpop_and_client_authentication_are_reported() -> None:
    offered = {c.name: c for c in sender_constraint_checks({
        "dpop_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"]})}
    assert offered["provider.dpop"].status == "PASS" and "ES256" in offered["provider.dpop"].detail
    assert "private_key_jwt available" in offered["provider.client-auth"].detail
    plain = {c.name: c for c in sender_constraint_checks({})}
    assert plain["provider.dpop"].status == "SKIP"
    assert "client_secret_basic" in plain["provider.client-auth"].detail
