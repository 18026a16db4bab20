"""Routing and paths: longest prefix, whole segments, one canonical path, traversal and escapes
refused before any upstream (raw sockets)."""

from __future__ import annotations

import pytest
import requests

from tests.integration.proxy.harness import (
    Stack,
    raw_request,
)
from tests.support import (
    XHR,
    BffProcess,
)

# --- routing ----------------------------------------------------------------------------------

def test_remainder_is_appended_to_the_upstream_path_and_longest_prefix_wins(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session(scopes=("openid", "orders:read", "orders:write"))
    jar = {"bff": cookie}
    one = requests.get(f"{stack.url}/api/orders/42/items", headers=XHR, cookies=jar)
    assert one.status_code == 200 and one.json()["path"] == "/orders/42/items"
    root = requests.get(f"{stack.url}/api/orders", headers=XHR, cookies=jar)
    assert root.json()["path"] == "/orders"
    admin = requests.get(f"{stack.url}/api/orders/admin/7", headers=XHR, cookies=jar)
    assert admin.json()["path"] == "/admin/7"


def test_query_string_is_passed_through_unchanged(stack: Stack) -> None:
    query = "b=2&a=1&a=&c=%2F%20x+y&d&e=%E2%82%AC&f=a%3Db"
    response = requests.get(f"{stack.url}/api/public/q?{query}", headers=XHR)
    assert response.json()["query"] == query


def test_prefix_matches_whole_segments_only(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/ordersevil", headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert len(stack.upstream.seen) == before


def test_an_unlisted_path_is_404(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/nothing/here", headers=XHR)
    assert response.status_code == 404
    assert set(response.json()) == {"error", "error_description"}


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "TRACE", "PROPFIND", "CONNECT"])
def test_a_method_outside_the_route_allow_list_is_405_with_allow(stack: Stack, front: BffProcess,
                                                                  method: str) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = raw_request(front.port, "/api/orders/1", method=method,
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 405
    assert response.headers["allow"] == "GET, POST, PUT"
    assert response.json()["error"] == "method_not_allowed"
    assert len(stack.upstream.seen) == before


def test_an_unknown_method_on_an_unlisted_path_is_404(stack: Stack, front: BffProcess) -> None:
    response = raw_request(front.port, "/api/nothing/here", method="TRACE")
    assert response.status == 404
    assert response.json()["error"] == "not_found"


def test_a_request_without_the_csrf_header_never_reaches_the_upstream(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = requests.get(f"{stack.url}/api/orders/1", cookies={"bff": cookie})
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_rejected"
    assert len(stack.upstream.seen) == before



# --- paths ------------------------------------------------------------------------------------

TRAVERSALS = [
    "/api/orders/../admin/steal",
    "/api/orders/./../admin/steal",
    "/api/orders/%2e%2e/admin/steal",
    "/api/orders/%2e%2e%2fadmin/steal",
    "/api/orders/%2E%2E%2Fadmin/steal",
    "/api/orders/x/%252e%252e/%252e%252e/admin/steal",
    "/api/orders/x%252fsteal",
    "/api/orders/..%5cadmin/steal",
    "/api/orders/..\\admin/steal",
    "/api/orders//admin/steal",
    "/api/orders/x//steal",
    "/api/orders/steal%00.json",
    "/api/orders/steal\x00.json",
    "/api/orders/..;/admin/steal",
    "/api/orders/%c0%ae%c0%ae/admin/steal",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_refused_before_the_upstream(
        stack: Stack, front: BffProcess, target: str) -> None:
    cookie, _, _ = stack.plant_session()
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 400, response.body
    if response.headers.get("content-type") == "application/json":
        assert response.json()["error"] == "invalid_path"
    else:  # the HTTP server refused the request line itself (gunicorn does for a raw NUL)
        assert "\x00" in target
    assert len(stack.upstream.seen) == before
    assert not [s for s in stack.upstream.seen if "steal" in s.path]


def test_encoded_dots_inside_a_name_are_not_traversal(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    response = raw_request(front.port, "/api/orders/report%2Ecsv",
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 200
    assert response.json()["path"] == "/orders/report.csv"


@pytest.mark.parametrize("target", [
    "/api/orders/%61dmin/users", "/api/orders/adm%69n/users", "/api/%6Frders/%61dmin/users",
])
def test_escaping_the_stricter_admin_route_by_encoding_a_letter_meets_the_admin_rules(
        stack: Stack, front: BffProcess, target: str) -> None:
    """The review's attack: bob (orders:read only) asked for /api/orders/%61dmin/users and got
    it forwarded under the looser /api/orders route; upstreams that decode %61 serve admin."""
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, headers=("X-CSRF: 1", f"Cookie: bff={cookie}"))
    assert response.status == 403, response.body
    assert response.json()["error"] == "insufficient_scope"
    assert len(stack.upstream.seen) == before


@pytest.mark.parametrize(("method", "target"), [
    ("PUT", "/api/orders/admin;x/users"), ("GET", "/api/orders/admin;jsessionid=1/users"),
    ("GET", "/api/orders/ADMIN/users"), ("GET", "/api/orders/%41dmin/users"),
    ("GET", "/api/orders/admin%3Bx/users"), ("GET", "/api/orders/%2561dmin/users"),
])
def test_ambiguous_forms_of_the_admin_path_are_refused_before_any_upstream(
        stack: Stack, front: BffProcess, method: str, target: str) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read", "orders:write"))
    before = len(stack.upstream.seen)
    response = raw_request(front.port, target, method=method,
                           headers=("X-CSRF: 1", f"Cookie: bff={cookie}", "Content-Length: 0"))
    assert response.status == 400, response.body
    assert response.json()["error"] == "invalid_path"
    assert len(stack.upstream.seen) == before


