"""Headers in both directions: the request allow-list, credentials and hop-by-hop headers,
forwarding headers, caching, log forging."""

from __future__ import annotations

import json

import requests

from tests.integration.proxy.harness import (
    Stack,
    raw_request,
)
from tests.support import (
    XHR,
    BffProcess,
)

# --- headers ----------------------------------------------------------------------------------

# The review's list: headers upstreams commonly trust as identity, method or URL overrides.
TRUSTED_BY_UPSTREAMS = (
    "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method",
    "X-Method-Override", "X-Authenticated-User", "X-Auth-User", "X-WEBAUTH-USER",
    "X-MS-CLIENT-PRINCIPAL-NAME", "X-Amzn-Oidc-Identity", "Cf-Access-Authenticated-User-Email",
    "X-Client-Cert", "X-SSL-Client-S-DN", "X-Api-Key", "X-Auth-Token",
)


def test_upstream_gets_the_bearer_and_none_of_the_browser_credentials_or_hop_headers(
        stack: Stack, front: BffProcess) -> None:
    cookie, token, _ = stack.plant_session()
    response = raw_request(front.port, "/api/orders/headers", headers=(
        "X-CSRF: 1",
        f"Cookie: bff={cookie}; theme=dark",
        "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==",
        "Proxy-Authorization: Basic cHJveHk6cHJveHk=",
        "Connection: close, X-Secret-Hop",
        "X-Secret-Hop: 1",
        "Keep-Alive: timeout=300",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Upgrade: h2c",
        "Proxy-Connection: keep-alive",
        "Accept: application/json",
        "X-Custom: kept",
        *(f"{name}: admin" for name in TRUSTED_BY_UPSTREAMS),
    ))
    assert response.status == 200
    seen = stack.upstream.seen_under("/orders/headers")[-1]
    assert not {name.lower() for name in TRUSTED_BY_UPSTREAMS} & seen.names()
    assert seen.header("Authorization") == [f"Bearer {token}"]
    assert seen.header("X-Custom") == ["kept"]
    assert seen.header("Accept") == ["application/json"]
    for name in ("cookie", "proxy-authorization", "x-csrf", "x-secret-hop", "keep-alive", "te",
                 "trailer", "upgrade", "proxy-connection"):
        assert name not in seen.names(), name
    assert "X-Secret-Hop" not in " ".join(seen.header("Connection"))
    assert cookie not in json.dumps(seen.headers)


def test_spoofed_x_forwarded_for_is_replaced(stack: Stack, front: BffProcess) -> None:
    raw_request(front.port, "/api/public/forwarded", headers=(
        "X-CSRF: 1", "X-Forwarded-For: 6.6.6.6", "X_Forwarded_For: 7.7.7.7",
        "Forwarded: for=6.6.6.6;proto=https", "X-Forwarded-Host: evil.example",
        "X-Real-IP: 6.6.6.6", "X-Forwarded-User: admin", "X-Request-ID: abc-123"))
    seen = stack.upstream.seen_under("/public/forwarded")[-1]
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header("X-Forwarded-Host") == [f"localhost:{front.port}"]
    assert seen.header("X-Forwarded-Proto") == ["http"]
    assert seen.header("Forwarded") == [
        f'for=127.0.0.1;host="localhost:{front.port}";proto=http']
    assert seen.header("X-Request-ID") == ["abc-123"]
    assert not {"x-real-ip", "x-forwarded-user", "x_forwarded_for"} & seen.names()
    assert "6.6.6.6" not in json.dumps(seen.headers)
    assert "7.7.7.7" not in json.dumps(seen.headers)


def test_forwarding_headers_from_a_trusted_proxy_are_extended(stack: Stack) -> None:
    raw_request(stack.trusting_bff.port, "/api/public/trusted", headers=(
        "X-CSRF: 1", "X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9"))
    seen = stack.upstream.seen_under("/public/trusted")[-1]
    assert seen.header("X-Forwarded-For") == ["203.0.113.9, 127.0.0.1"]
    assert seen.header("Forwarded") == [
        f'for=203.0.113.9, for=127.0.0.1;host="localhost:{stack.trusting_bff.port}";proto=http']


def test_route_identity_headers_cannot_be_smuggled_in_any_spelling(
        stack: Stack, front: BffProcess) -> None:
    raw_request(front.port, "/api/public/tenant", headers=(
        "X-CSRF: 1", "X-Tenant: evil", "x-tenant: evil2", "X_Tenant: evil3", "X-User: root"))
    seen = stack.upstream.seen_under("/public/tenant")[-1]
    tenant = [(k, v) for k, v in seen.headers if k.lower().replace("_", "-") == "x-tenant"]
    assert tenant == [("X-Tenant", "acme")]
    assert "x-user" not in seen.names()


def test_upstream_set_cookie_auth_dialogs_and_hop_headers_are_dropped(
        stack: Stack, front: BffProcess) -> None:
    response = requests.get(f"{front.url}/api/public/cookie", headers=XHR)
    assert response.status_code == 200
    assert response.text == "upstream body"
    assert response.headers["X-Kept"] == "yes"
    for name in ("Set-Cookie", "WWW-Authenticate", "X-Hop", "Keep-Alive", "Proxy-Authenticate"):
        assert name not in response.headers, name
    assert not response.cookies


def test_a_users_answer_is_never_storable_by_a_shared_cache(stack: Stack, front: BffProcess
                                                            ) -> None:
    """A CDN in front of the BFF must not serve one user's data to another: the cookie chose it."""
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{front.url}/api/orders/cached", headers=XHR,
                            cookies={"bff": cookie})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=600"
    assert response.headers["Vary"] == "Accept, Cookie"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    plain = requests.get(f"{front.url}/api/orders/42", headers=XHR, cookies={"bff": cookie})
    assert plain.headers["Cache-Control"] == "no-store"


def test_a_tokenless_answer_keeps_the_upstreams_caching(stack: Stack, front: BffProcess) -> None:
    response = requests.get(f"{front.url}/api/public/cached", headers=XHR)
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_bff_endpoints_are_never_stored(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{front.url}/bff/user", headers=XHR, cookies={"bff": cookie})
    assert response.headers["Cache-Control"] == "no-store"


def test_a_connection_the_upstream_closes_is_not_reused(stack: Stack) -> None:
    """The upstream sends ``Connection: X-Hop`` then ``Connection: close``; reusing that
    connection would send the next request into a socket the upstream is closing."""
    assert requests.get(f"{stack.url}/api/quick/cookie", headers=XHR).status_code == 200
    for n in range(3):
        response = requests.get(f"{stack.url}/api/quick/after-{n}", headers=XHR)
        assert response.status_code == 200, response.text


def test_upstream_redirects_go_to_the_browser_and_are_not_followed(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.get(f"{stack.url}/api/public/redirect", headers=XHR,
                            cookies={"bff": cookie}, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/elsewhere/landing")
    assert not stack.upstream.seen_under("/elsewhere")


