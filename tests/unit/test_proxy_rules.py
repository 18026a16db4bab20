from __future__ import annotations

import pytest
import urllib3

from bff.errors import PathRejected
from bff.proxy import RouteTable, check_remainder, downstream_headers, upstream_headers
from bff.settings import Route

ORDERS = Route(prefix="/api/orders", upstream="http://127.0.0.1:9/orders")
ORDERS_ADMIN = Route(prefix="/api/orders/admin", upstream="http://127.0.0.1:9/admin")
TABLE = RouteTable((ORDERS, ORDERS_ADMIN))


def test_longest_prefix_wins() -> None:
    match = TABLE.match("/api/orders/admin/x")
    assert match is not None and match.route is ORDERS_ADMIN and match.remainder == "/x"


def test_prefix_matches_whole_segments_only() -> None:
    assert TABLE.match("/api/ordersevil") is None
    assert TABLE.match("/api/orders-admin") is None
    match = TABLE.match("/api/orders")
    assert match is not None and match.remainder == ""


@pytest.mark.parametrize("remainder", ["", "/", "/42", "/42/items", "/a.b", "/..a", "/a..", "/%20"])
def test_clean_remainders_pass(remainder: str) -> None:
    assert check_remainder(remainder) == remainder


@pytest.mark.parametrize("remainder", [
    "/../admin", "/..", "/.", "/./x", "/%2e%2e/admin", "/%2E%2E/admin", "/.%2e/admin",
    "/a%2fb", "/a%2F..", "/..%5cadmin", "/a\\b", "//admin", "/a//b", "/a\x00", "/%00",
    "/%252e%252e/admin", "/%252fadmin", "/..%255cadmin",
])
def test_path_traversal_is_refused(remainder: str) -> None:
    with pytest.raises(PathRejected):
        check_remainder(remainder)


def test_browser_credentials_and_hop_by_hop_headers_never_go_upstream() -> None:
    incoming = {
        "Cookie": "bff=secret", "Authorization": "Basic abc", "Proxy-Authorization": "x",
        "X-CSRF": "1", "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1",
        "Keep-Alive": "5", "TE": "trailers", "Upgrade": "h2c", "X-Forwarded-For": "6.6.6.6",
        "Forwarded": "for=6.6.6.6", "X_Forwarded_For": "6.6.6.6", "Accept": "application/json",
        "Content-Type": "application/json",
    }
    headers = upstream_headers(incoming, ORDERS, "tok", "10.0.0.1", "https://app.example", "r1")
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["authorization"] == "Bearer tok"
    assert lowered["x-forwarded-for"] == "10.0.0.1"
    assert lowered["x-forwarded-proto"] == "https"
    assert lowered["x-forwarded-host"] == "app.example"
    for name in ("cookie", "proxy-authorization", "x-csrf", "connection", "x-secret-hop",
                 "keep-alive", "te", "upgrade", "forwarded", "x_forwarded_for"):
        assert name not in lowered, name
    assert lowered["accept"] == "application/json"


def test_no_token_means_no_authorization_header_upstream() -> None:
    headers = upstream_headers({"Authorization": "Bearer stolen"}, ORDERS, None, "1.2.3.4",
                               "https://app.example", "r1")
    assert "Authorization" not in headers and "authorization" not in headers


def test_upstream_cannot_set_cookies_or_trigger_auth_dialogs() -> None:
    upstream = urllib3.HTTPHeaderDict({
        "Set-Cookie": "evil=1", "WWW-Authenticate": "Basic realm=x", "Content-Type": "text/plain",
        "Transfer-Encoding": "chunked", "Connection": "close",
    })
    names = {name.lower() for name, _ in downstream_headers(upstream)}
    assert names == {"content-type"}
