"""Per-route authorization decisions: claims and login freshness."""

from __future__ import annotations

import tomllib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.authz import claim_holds, is_fresh, reauthentication_url, unmet_claims
from bff.settings import SettingsError, build_settings, generate_secret_key

RULES = (("roles", ("admin", "stock-viewer")), ("tenant", ("acme",)))


@pytest.mark.parametrize(("claims", "unmet"), [
    ({"roles": ["stock-viewer"], "tenant": "acme"}, []),
    ({"roles": "admin", "tenant": ["acme", "other"]}, []),
    ({"roles": ["viewer"], "tenant": "acme"}, ["roles"]),
    ({"tenant": "acme"}, ["roles"]),
    ({"roles": ["admin"]}, ["tenant"]),
    ({"roles": {"admin": True}, "tenant": "acme"}, ["roles"]),
    ({"roles": ["ADMIN"], "tenant": "Acme"}, ["roles", "tenant"]),
    ({"roles": "admin x", "tenant": "acme"}, ["roles"]),
])
def test_every_rule_must_hold_and_one_value_suffices(claims: dict[str, Any],
                                                     unmet: list[str]) -> None:
    assert unmet_claims(RULES, claims) == unmet


claim_values = st.one_of(st.none(), st.text(max_size=8), st.integers(),
                         st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=4))


@given(claim_values, st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3))
def test_a_claim_holds_only_by_an_exact_accepted_string(value: Any, accepted: list[str]) -> None:
    held = claim_holds(value, tuple(accepted))
    exact = (isinstance(value, str) and value in accepted) or (
        isinstance(value, list) and any(isinstance(v, str) and v in accepted for v in value))
    assert held == exact


def test_freshness_counts_from_the_authentication_time() -> None:
    assert is_fresh(1000.0, None, 10**9)
    assert is_fresh(1000.0, 300, 1300.0)
    assert not is_fresh(1000.0, 300, 1300.5)


def test_the_reauthentication_url_asks_the_provider_again_and_returns_here() -> None:
    url = reauthentication_url("/stock?tab=1", 300)
    parts = urlsplit(url)
    assert parts.path == "/bff/login"
    assert parse_qs(parts.query) == {"returnUrl": ["/stock?tab=1"], "prompt": ["login"],
                                     "max_age": ["300"]}


def settings_with(route: str) -> None:
    raw = tomllib.loads(f'[[routes]]\nprefix = "/api/x"\nupstream = "http://127.0.0.1:9/x"\n{route}')
    build_settings({"base_url": "http://localhost:8000", "issuer": "http://localhost:8001",
                    "client_id": "c", "client_secret": "s", "secret_keys": generate_secret_key(),
                    "user_claims": ["sub", "name", "roles"], **raw})


@pytest.mark.parametrize(("route", "message"), [
    ('claims = { department = ["x"] }', "does not keep"),
    ('claims = { roles = [] }', "at least one accepted value"),
    ('claims = ["roles"]', "table of claim"),
    ("max_age = 0", "positive whole number"),
    ('max_age = "300"', "positive whole number"),
    ("max_age = -5", "positive whole number"),
])
def test_bad_route_rules_are_refused_at_start_up_naming_the_route(route: str,
                                                                  message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_with(route)


def test_good_route_rules_load() -> None:
    settings_with('claims = { roles = ["admin", "stock-viewer"] }\nmax_age = 300')
