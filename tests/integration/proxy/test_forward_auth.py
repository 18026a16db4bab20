"""Forward-auth for an edge proxy (``GET /bff/authz``), against the real stack: the same rules
as ``/api``, believed only from a trusted edge, answering with the header the edge copies."""

from __future__ import annotations

import requests

from tests.integration.proxy.harness import Stack, raw_request
from tests.support import XHR


def ask(stack: Stack, uri: str, cookie: str | None, method: str = "GET", trusted: bool = True,
        **headers: str) -> requests.Response:
    bff = stack.trusting_bff if trusted else stack.bff
    return requests.get(f"{bff.url}/bff/authz", timeout=10, headers={
        "X-Forwarded-Uri": uri, "X-Forwarded-Method": method, **headers},
        cookies={"bff": cookie} if cookie else None)


def test_the_edge_gets_the_users_bearer_for_a_route(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    answer = ask(stack, "/api/orders/42?page=2", cookie, **XHR)
    assert answer.status_code == 200
    assert answer.headers["Authorization"] == f"Bearer {token}"
    assert "no-store" in answer.headers["Cache-Control"]
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


def test_an_address_that_is_not_a_trusted_edge_learns_nothing(stack: Stack) -> None:
    cookie, token, _ = stack.plant_session()
    answer = ask(stack, "/api/orders/42", cookie, trusted=False, **XHR)
    assert answer.status_code == 403
    assert token not in answer.text and "Authorization" not in answer.headers


def test_the_original_path_meets_the_same_canonical_rules(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    escaped = ask(stack, "/api/orders/%61dmin/users", cookie, **XHR)
    assert escaped.status_code == 403 and escaped.json()["error"] == "insufficient_scope"
    for ambiguous in ("/api/orders/admin;x/users", "/api/orders/ADMIN/users",
                      "/api/orders/%2e%2e/admin", "//evil/api/orders"):
        assert ask(stack, ambiguous, cookie, **XHR).status_code == 400, ambiguous


def test_forged_and_cross_site_requests_are_refused(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    assert ask(stack, "/api/orders", cookie, method="POST").status_code == 403
    assert ask(stack, "/api/orders", cookie, method="POST", **XHR,
               Origin="https://evil.example").status_code == 403
    assert ask(stack, "/api/orders", cookie, **XHR,
               **{"Sec-Fetch-Site": "cross-site"}).status_code == 403


def test_no_session_is_401_and_an_unknown_route_404_and_a_wrong_method_405(
        stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    assert ask(stack, "/api/orders", None, **XHR).status_code == 401
    assert ask(stack, "/api/nowhere", cookie, **XHR).status_code == 404
    answer = ask(stack, "/api/orders", cookie, method="DELETE", **XHR)
    assert answer.status_code == 405 and "Allow" in answer.headers


def test_a_browser_calling_it_directly_gets_nothing_usable(stack: Stack) -> None:
    """The public port is not an edge: the request is refused before any cookie is read."""
    cookie, token, _ = stack.plant_session()
    response = raw_request(stack.bff.port, "/bff/authz", headers=(
        "X-CSRF: 1", f"Cookie: bff={cookie}", "X-Forwarded-Uri: /api/orders",
        "Origin: https://evil.example"))
    assert response.status == 403
    assert token.encode() not in response.body
