"""Forward-auth through a real nginx (Debian's, `auth_request`): nginx moves the bytes, the
BFF only says who may pass and with which `Authorization`. The configuration is the shipped
deploy/edge/nginx.conf, rendered as is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bff.processes import free_port
from tests.edge_support import shipped_nginx
from tests.integration.proxy.harness import Stack
from tests.support import XHR


@pytest.fixture(scope="module")
def edge(stack: Stack) -> Iterator[str]:
    with shipped_nginx(free_port(), f"127.0.0.1:{stack.trusting_bff.port}",
                       f"127.0.0.1:{stack.upstream.port}") as address:
        yield f"http://{address}"


def test_nginx_passes_the_users_bearer_and_never_the_cookie(stack: Stack, edge: str) -> None:
    cookie, token, _ = stack.plant_session()
    answer = requests.get(f"{edge}/api/orders/edge-7", headers=XHR, cookies={"bff": cookie},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    seen = stack.upstream.seen_under("/api/orders/edge-7")[-1]
    assert seen.header("Authorization") == [f"Bearer {token}"]
    assert "cookie" not in seen.names()


@pytest.mark.parametrize(("case", "status"), [("no session", 401), ("no X-CSRF", 403),
                                              ("cross-site", 403), ("escape", 403)])
def test_nginx_refuses_what_the_bff_refuses_and_the_upstream_never_sees_it(
        stack: Stack, edge: str, case: str, status: int) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    path, headers, cookies = f"/api/orders/edge-{case.replace(' ', '-')}", dict(XHR), {
        "bff": cookie}
    if case == "no session":
        cookies = {}
    elif case == "no X-CSRF":
        headers = {}
    elif case == "cross-site":
        headers["Sec-Fetch-Site"] = "cross-site"
    else:
        path = "/api/orders/%61dmin/edge"
    before = len(stack.upstream.seen)
    answer = requests.get(f"{edge}{path}", headers=headers, cookies=cookies, timeout=10)
    assert answer.status_code == status
    assert len(stack.upstream.seen) == before


def test_nginx_keeps_what_the_built_in_proxy_keeps_from_the_browser(stack: Stack,
                                                                   edge: str) -> None:
    """An upstream cannot set cookies for this origin, open an auth dialog or grant CORS
    through the edge either."""
    cookie, _, _ = stack.plant_session()
    answer = requests.get(f"{edge}/api/orders/cookie", headers=XHR, cookies={"bff": cookie},
                          timeout=10)
    assert answer.status_code == 200 and answer.text == "upstream body"
    assert "Set-Cookie" not in answer.headers and not answer.cookies
    assert "WWW-Authenticate" not in answer.headers
    assert "Proxy-Authenticate" not in answer.headers
    assert answer.headers["X-Kept"] == "yes"


def test_only_the_allow_listed_browser_headers_cross_the_edge(stack: Stack, edge: str) -> None:
    """Invariant 10 at the edge: identity headers a browser can forge never reach an API, and
    the forwarding chain is the edge's own view; a body still crosses whole."""
    cookie, token, _ = stack.plant_session(scopes=("openid", "orders:read", "orders:write"))
    answer = requests.post(f"{edge}/api/orders/edge-headers", data=b"x" * 70_000, timeout=10,
                           cookies={"bff": cookie}, headers={
                               **XHR, "Content-Type": "application/octet-stream",
                               "Accept-Language": "fr", "X-User": "admin",
                               "X-Forwarded-For": "203.0.113.66", "Forwarded": "for=203.0.113.66",
                               "X-Api-Key": "forged", "X-Real-IP": "203.0.113.66"})
    assert answer.status_code == 200, answer.text
    seen = stack.upstream.seen_under("/api/orders/edge-headers")[-1]
    assert seen.body_bytes == 70_000
    assert seen.header("Authorization") == [f"Bearer {token}"]
    assert seen.header("Accept-Language") == ["fr"]
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    for name in ("cookie", "x-user", "forwarded", "x-api-key", "x-real-ip", "x-csrf"):
        assert name not in seen.names(), name
