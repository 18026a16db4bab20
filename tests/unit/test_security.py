from __future__ import annotations

import pytest

from bff.sansio.security import csrf_problem, is_cross_site_navigation, is_safe_return_url

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
