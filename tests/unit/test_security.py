from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.security import (
    BASE_HEADERS,
    csrf_problem,
    is_cross_site_navigation,
    is_safe_return_url,
    security_headers,
    websocket_problem,
)

ORIGIN = "https://app.example"


@pytest.mark.parametrize("url", ["/", "/orders", "/orders?tab=2#top", "/a/b%20c", "/%E2%9C%93"])
def test_same_origin_paths_are_accepted(url: str) -> None:
    assert is_safe_return_url(url)


@pytest.mark.parametrize("url", [
    "//evil.example", "/\\evil.example", "https://evil.example", "http://evil.example/x",
    "javascript:alert(1)", "JavaScript:alert(1)", "evil.example", "", "/\tevil", "/\nevil",
    "/%0aevil", "%2F%2Fevil.example", "/%2Fevil.example", "/%5Cevil.example",
    "/%252F%252Fevil.example", "\\\\evil.example", " /orders", "/orders\r\nSet-Cookie:x=1",
    "/%09/evil.example", "data:text/html,<script>alert(1)</script>",
])
def test_open_redirect_through_return_url_is_refused(url: str) -> None:
    assert not is_safe_return_url(url)


def test_request_without_csrf_header_is_refused() -> None:
    assert csrf_problem({}, ORIGIN)
    assert csrf_problem({"X-CSRF": "0"}, ORIGIN)


def test_request_with_csrf_header_from_same_origin_passes() -> None:
    assert csrf_problem({"X-CSRF": "1", "Sec-Fetch-Site": "same-origin", "Origin": ORIGIN},
                        ORIGIN) is None
    assert csrf_problem({"X-CSRF": "1"}, ORIGIN) is None


@pytest.mark.parametrize("headers", [
    {"X-CSRF": "1", "Sec-Fetch-Site": "cross-site"},
    {"X-CSRF": "1", "Sec-Fetch-Site": "same-site"},
    {"X-CSRF": "1", "Origin": "https://evil.example"},
    {"X-CSRF": "1", "Origin": "null"},
])
def test_cross_site_request_is_refused_even_with_the_header(headers: dict[str, str]) -> None:
    assert csrf_problem(headers, ORIGIN)


def test_cross_site_navigation_is_detected() -> None:
    assert is_cross_site_navigation({"Sec-Fetch-Site": "cross-site"}, ORIGIN)
    assert is_cross_site_navigation({"Origin": "https://evil.example"}, ORIGIN)
    assert not is_cross_site_navigation({"Sec-Fetch-Site": "same-origin"}, ORIGIN)
    assert not is_cross_site_navigation({}, ORIGIN)


def test_a_websocket_from_this_exact_origin_passes_without_x_csrf() -> None:
    assert websocket_problem({"Origin": ORIGIN}, ORIGIN) is None
    assert websocket_problem({"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}, ORIGIN) is None


@given(st.one_of(st.none(), st.text(max_size=40),
                 st.sampled_from(["https://APP.example", "https://app.example/", "null",
                                  "http://app.example", "https://app.example:443",
                                  "https://app.example.evil.example", "https://evil.example"])))
def test_a_websocket_from_any_other_origin_is_refused(origin: str | None) -> None:
    headers = {} if origin is None else {"Origin": origin}
    assert (websocket_problem(headers, ORIGIN) is None) == (origin == ORIGIN)


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none"])
def test_a_websocket_the_browser_says_is_not_same_origin_is_refused(site: str) -> None:
    assert websocket_problem({"Origin": ORIGIN, "Sec-Fetch-Site": site}, ORIGIN)


def test_security_headers_fill_gaps_and_keep_what_the_answer_set() -> None:
    sent = security_headers([("x-frame-options", "SAMEORIGIN"), ("Cache-Control", "max-age=9")],
                            "/api/orders")
    assert ("x-frame-options", "SAMEORIGIN") in sent
    assert [n for n, _ in sent if n.lower() == "x-frame-options"] == ["x-frame-options"]
    assert ("Cache-Control", "max-age=9") in sent
    for name, value in BASE_HEADERS.items():
        if name != "X-Frame-Options":
            assert (name, value) in sent


@pytest.mark.parametrize("path", ["/bff/user", "/bff/authz", "/bff/authz/api/orders"])
def test_nothing_under_bff_is_storable_whatever_the_answer_said(path: str) -> None:
    sent = security_headers([("cache-control", "public, max-age=600"), ("Set-Cookie", "a=1"),
                             ("Set-Cookie", "b=2")], path)
    assert [v for n, v in sent if n.lower() == "cache-control"] == ["no-store"]
    assert [v for n, v in sent if n == "Set-Cookie"] == ["a=1", "b=2"]
