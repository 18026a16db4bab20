from __future__ import annotations

import ipaddress
from urllib.parse import unquote

import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders

from bff.errors import PathRejected
from bff.sansio.proxy_rules import (
    REQUEST_HEADER_ALLOW_LIST,
    Forwarding,
    RouteTable,
    canonical_path,
    credential_plan,
    downstream_headers,
    header_key,
    is_trusted,
    raw_request_path,
    request_header_bytes,
    upstream_headers,
)
from bff.settings import Route, SettingsError

HEADER_NAMES = st.text("abcdefghijklmnopqrstuvwxyz-_0123456789", min_size=1, max_size=20)

ORDERS = Route(prefix="/api/orders", upstream="http://127.0.0.1:9/orders")
ORDERS_ADMIN = Route(prefix="/api/orders/admin", upstream="http://127.0.0.1:9/admin")
TENANT = Route(prefix="/api/tenant", upstream="http://127.0.0.1:9/t",
               headers=(("X-Tenant", "acme"),))
TABLE = RouteTable((ORDERS, ORDERS_ADMIN))
DIRECT = Forwarding(peer="10.0.0.1", peer_is_trusted_proxy=False,
                    public_origin="https://app.example", request_id="r1")


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_longest_prefix_wins() -> None:
    match = TABLE.match("/api/orders/admin/x")
    assert match is not None and match.route is ORDERS_ADMIN and match.remainder == "/x"


def test_prefix_matches_whole_segments_only() -> None:
    assert TABLE.match("/api/ordersevil") is None
    assert TABLE.match("/api/orders-admin") is None
    with pytest.raises(PathRejected):
        TABLE.match("/api/orders%2fadmin")
    match = TABLE.match("/api/orders")
    assert match is not None and match.remainder == ""


@pytest.mark.parametrize(("raw", "canonical"), [
    ("/api/orders", "/api/orders"), ("/api/orders/", "/api/orders/"),
    ("/api/orders/42/items", "/api/orders/42/items"), ("/api/orders/a.b", "/api/orders/a.b"),
    ("/api/orders/..a", "/api/orders/..a"), ("/api/orders/%20", "/api/orders/%20"),
    ("/api/orders/a%2eb", "/api/orders/a.b"), ("/api/orders/caf%c3%a9", "/api/orders/caf%C3%A9"),
    ("/api/orders/%61%7E%2D", "/api/orders/a~-"), ("/api/orders/a/b/", "/api/orders/a/b/"),
    ("/api/orders/x:y@z!$&'()*+,=", "/api/orders/x:y@z!$&'()*+,="),
])
def test_canonical_form_decodes_unreserved_escapes_only(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


@pytest.mark.parametrize("remainder", [
    "/../admin", "/..", "/.", "/./x", "/%2e%2e/admin", "/%2E%2E/admin", "/.%2e/admin",
    "/a%2fb", "/a%2F..", "/..%5cadmin", "/a\\b", "//admin", "/a//b", "/a\x00", "/%00",
    "/%252e%252e/admin", "/%252fadmin", "/..%255cadmin", "/%25252e%25252e/admin", "/100%25",
])
def test_path_traversal_is_refused(remainder: str) -> None:
    with pytest.raises(PathRejected):
        canonical_path(f"/api/orders{remainder}")


@pytest.mark.parametrize("remainder", [
    "/..;/admin", "/.;x/admin", "/..%3b/admin", "/admin;x/users", "/x;v=1", "/admin%3Bx",
])
def test_path_parameters_are_refused(remainder: str) -> None:
    with pytest.raises(PathRejected):
        canonical_path(f"/api/orders{remainder}")


@pytest.mark.parametrize("escape", ["%3A", "%40", "%21", "%24", "%26", "%27", "%28", "%29",
                                    "%2A", "%2B", "%2C", "%3D", "%3F", "%23", "%5B", "%5D",
                                    "%25", "%5C", "%2F", "%0a", "%7f"])
def test_encoded_reserved_characters_are_refused(escape: str) -> None:
    with pytest.raises(PathRejected):
        canonical_path(f"/api/orders/a{escape}b")


@pytest.mark.parametrize("remainder", ["/%c0%ae%c0%ae/admin", "/%u002e%u002e/admin", "/%",
                                       "/a%2", "/%C3", "/%ff"])
def test_overlong_utf8_and_broken_percent_encodings_are_refused(remainder: str) -> None:
    with pytest.raises(PathRejected):
        canonical_path(f"/api/orders{remainder}")


@pytest.mark.parametrize("remainder", ["/a b", "/a\tb", "/caf\xe9", "/a#b", "/a\r\nX: y"])
def test_raw_spaces_controls_and_fragments_are_refused(remainder: str) -> None:
    with pytest.raises(PathRejected):
        canonical_path(f"/api/orders{remainder}")


@pytest.mark.parametrize("raw", ["/api/orders/%61dmin/users", "/api/orders/%61%64%6d%69%6e",
                                 "/api/%6frders/admin/users", "/api/orders/adm%69n"])
def test_escaping_a_stricter_route_by_encoding_its_letters_lands_on_the_stricter_route(
        raw: str) -> None:
    match = TABLE.match(raw)
    assert match is not None and match.route is ORDERS_ADMIN


@pytest.mark.parametrize("raw", ["/api/orders/ADMIN/users", "/api/orders/Admin", "/API/orders"
                                 "/admin", "/api/orders/%41dmin"])
def test_a_path_that_differs_from_a_stricter_route_only_by_case_is_refused(raw: str) -> None:
    with pytest.raises(PathRejected):
        TABLE.match(raw)


@pytest.mark.parametrize("prefix", ["/api/%6frders", "/api/orders/", "/api/a;b", "/api/a%2Fb",
                                    "/api//x", "/api/../x"])
def test_a_route_prefix_that_is_not_canonical_is_refused_at_start_up(prefix: str) -> None:
    with pytest.raises(SettingsError, match="prefix"):
        RouteTable((Route(prefix=prefix, upstream="http://127.0.0.1:9/x"),))


PATH_ALPHABET = st.sampled_from([
    "/", "%", "2", "5", "6", "1", "e", "E", "f", "F", "c", "0", "a", "A", "d", "m", "i", "n",
    "o", "r", "s", ";", ".", "\\", "api", "orders", "admin", "%61", "%2e", "%2f", "%25",
    "%3b", "%C3%A9", "%c0%ae", "\u00e9", " ", "~", "ADMIN", "%41",
])


def upstream_views(path: str) -> list[str]:
    """How upstreams we did not write may read a path: decoded once, decoded until stable,
    with ``;params`` stripped (Tomcat, Spring), or case-insensitively (IIS)."""
    once = unquote(path)
    full = path
    for _ in range(5):
        full = unquote(full)
    stripped = "/".join(segment.split(";", 1)[0] for segment in once.split("/"))
    return [once, full, stripped, once.casefold()]


def filed_under(view: str, routes: tuple[Route, ...]) -> Route | None:
    fold = view == view.casefold()
    best = None
    for route in routes:
        prefix = route.prefix.casefold() if fold else route.prefix
        if (view == prefix or view.startswith(prefix + "/")) and \
                (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    return best


@settings(max_examples=3000, deadline=None)
@given(st.lists(PATH_ALPHABET, max_size=12).map(lambda parts: "/api/orders/" + "".join(parts)))
def test_the_route_that_matched_is_the_one_every_upstream_reading_files_the_path_under(
        raw: str) -> None:
    try:
        match = TABLE.match(raw)
    except PathRejected:
        return
    assert match is not None
    forwarded = match.route.prefix + match.remainder
    assert forwarded == canonical_path(raw)
    for view in upstream_views(forwarded):
        assert filed_under(view, (ORDERS, ORDERS_ADMIN)) is match.route, (raw, view)


def test_raw_path_comes_from_the_request_line_not_the_decoded_path() -> None:
    environ = {"RAW_URI": "/api/orders/a%2fb?x=1", "PATH_INFO": "/api/orders/a/b"}
    assert raw_request_path(environ) == "/api/orders/a%2fb"
    assert raw_request_path({"RAW_URI": "http://h:1/api/orders/%2e%2e?q"}) == \
        "/api/orders/%2e%2e"
    assert raw_request_path({"PATH_INFO": "/api/orders/a b"}) == "/api/orders/a%20b"


def test_browser_credentials_and_hop_by_hop_headers_never_go_upstream() -> None:
    incoming = {
        "Cookie": "bff=secret", "Authorization": "Basic abc", "Proxy-Authorization": "x",
        "X-CSRF": "1", "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1",
        "Keep-Alive": "5", "TE": "trailers", "Upgrade": "h2c", "Trailer": "X-T",
        "Proxy-Anything": "1", "Expect": "100-continue", "Accept": "application/json",
        "Content-Type": "application/json",
    }
    headers = lowered(upstream_headers(incoming, ORDERS, {"Authorization": "Bearer tok"}, DIRECT))
    assert headers["authorization"] == "Bearer tok"
    for name in ("cookie", "proxy-authorization", "x-csrf", "connection", "x-secret-hop",
                 "keep-alive", "te", "upgrade", "trailer", "proxy-anything", "expect"):
        assert name not in headers, name
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"


def test_spoofed_forwarding_headers_from_a_browser_are_replaced() -> None:
    incoming = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6",
                "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
                "X-Forwarded-User": "admin", "X-Real-IP": "6.6.6.6", "X_Forwarded_For": "6.6.6.6"}
    headers = lowered(upstream_headers(incoming, ORDERS, {}, DIRECT))
    assert headers["x-forwarded-for"] == "10.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == "app.example"
    assert headers["forwarded"] == 'for=10.0.0.1;host="app.example";proto=https'
    for name in ("x-forwarded-user", "x-real-ip", "x_forwarded_for"):
        assert name not in headers, name
    assert "6.6.6.6" not in str(headers)


def test_a_trusted_proxy_extends_the_forwarding_chain() -> None:
    via_proxy = Forwarding(peer="10.0.0.2", peer_is_trusted_proxy=True,
                           public_origin="https://app.example", request_id="r1")
    incoming = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
    headers = lowered(upstream_headers(incoming, ORDERS, {}, via_proxy))
    assert headers["x-forwarded-for"] == "203.0.113.7, 10.0.0.2"
    assert headers["forwarded"] == \
        'for=203.0.113.7, for=10.0.0.2;host="app.example";proto=https'


def test_ipv6_peers_are_quoted_in_forwarded() -> None:
    forwarding = Forwarding(peer="::1", peer_is_trusted_proxy=False,
                            public_origin="http://localhost:8000", request_id="r1")
    headers = upstream_headers({}, ORDERS, {}, forwarding)
    assert headers["Forwarded"] == 'for="[::1]";host="localhost:8000";proto=http'


def test_trusted_proxies_are_matched_by_address_or_range() -> None:
    networks = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert is_trusted("10.1.2.3", networks)
    assert is_trusted("::1", networks)
    assert not is_trusted("11.0.0.1", networks)
    assert not is_trusted("<local>", networks)
    assert not is_trusted("10.0.0.1", ())


@pytest.mark.parametrize("spelling", ["X-Tenant", "x-tenant", "X_TENANT", "x_tenant"])
def test_identity_headers_the_bff_adds_cannot_be_smuggled_in_any_spelling(spelling: str) -> None:
    headers = upstream_headers({spelling: "evil", "X-User": "root", "Remote-User": "root"},
                               TENANT, {"Authorization": "Bearer tok"}, DIRECT)
    assert [(k, v) for k, v in headers.items() if k.lower().replace("_", "-") == "x-tenant"] == \
        [("X-Tenant", "acme")]
    assert not {"x-user", "remote-user"} & set(lowered(headers))


def test_no_token_means_no_authorization_header_upstream() -> None:
    headers = upstream_headers({"Authorization": "Bearer stolen"}, ORDERS, {}, DIRECT)
    assert "authorization" not in lowered(headers)


@pytest.mark.parametrize("name", ["Authorization", "Cookie", "Host", "X-Forwarded-For",
                                  "Connection", "Proxy-Authorization", "Content-Length"])
def test_route_headers_cannot_forge_what_the_proxy_controls(name: str) -> None:
    route = Route(prefix="/api/x", upstream="http://127.0.0.1:9", headers=((name, "v"),))
    with pytest.raises(SettingsError):
        RouteTable((route,))


def test_a_tokenless_route_may_carry_a_static_authorization() -> None:
    route = Route(prefix="/api/x", upstream="http://127.0.0.1:9", token="none",
                  headers=(("Authorization", "ApiKey k"),))
    RouteTable((route,))
    headers = upstream_headers({"Authorization": "Bearer browser"}, route, {}, DIRECT)
    assert lowered(headers)["authorization"] == "ApiKey k"


def test_upstream_cannot_set_cookies_or_trigger_auth_dialogs() -> None:
    upstream = urllib3.HTTPHeaderDict({
        "Set-Cookie": "evil=1", "WWW-Authenticate": "Basic realm=x", "Content-Type": "text/plain",
        "Transfer-Encoding": "chunked", "Connection": "close, X-Hop", "X-Hop": "1",
        "Keep-Alive": "timeout=5", "Proxy-Authenticate": "Basic", "Content-Length": "3",
    })
    names = {name.lower() for name, _ in downstream_headers(upstream, credentialed=False)}
    assert names == {"content-type"}


def test_content_length_and_repeated_headers_pass_downstream() -> None:
    upstream = urllib3.HTTPHeaderDict()
    upstream.add("Content-Length", "10")
    upstream.add("Link", "</a>; rel=next")
    upstream.add("Link", "</b>; rel=prev")
    assert downstream_headers(upstream, credentialed=False) == [
        ("Content-Length", "10"), ("Link", "</a>; rel=next"), ("Link", "</b>; rel=prev")]


REVIEW_HEADERS = [
    "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method",
    "X-Method-Override", "X-Authenticated-User", "X-Auth-User", "X-WEBAUTH-USER",
    "X-MS-CLIENT-PRINCIPAL-NAME", "X-Amzn-Oidc-Identity", "Cf-Access-Authenticated-User-Email",
    "X-Client-Cert", "X-SSL-Client-S-DN", "X-Api-Key", "X-Auth-Token",
]


@pytest.mark.parametrize("name", REVIEW_HEADERS)
def test_headers_upstreams_trust_never_cross_the_proxy(name: str) -> None:
    for spelling in (name, name.lower(), name.upper(), name.replace("-", "_")):
        headers = upstream_headers({spelling: "admin"}, ORDERS, {"Authorization": "Bearer tok"},
                                   DIRECT)
        assert header_key(name) not in {header_key(k) for k in headers}, spelling


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ-_0123456789", min_size=1,
               max_size=30))
def test_only_allow_listed_request_headers_cross(name: str) -> None:
    headers = upstream_headers({name: "v"}, TENANT, {}, DIRECT)
    crossed = {header_key(k) for k in headers} - {
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id",
        "x-tenant"}
    assert crossed <= REQUEST_HEADER_ALLOW_LIST
    if header_key(name) in REQUEST_HEADER_ALLOW_LIST and "_" not in name:
        assert crossed == {header_key(name)}


def test_a_route_can_allow_one_more_request_header() -> None:
    route = Route(prefix="/api/x", upstream="http://127.0.0.1:9", request_headers=("X-Api-Key",))
    RouteTable((route,))
    assert lowered(upstream_headers({"X-Api-Key": "k", "X-Auth-Token": "t"}, route, {},
                                    DIRECT)).get("x-api-key") == "k"
    assert "x-api-key" not in lowered(upstream_headers({"X-Api-Key": "k"}, ORDERS, {}, DIRECT))


@pytest.mark.parametrize("name", ["Cookie", "Authorization", "Host", "X-Forwarded-For",
                                  "Forwarded", "Connection", "Proxy-Authorization", "X-CSRF",
                                  "X_Tenant", "bad name", "X-Request-ID"])
def test_a_route_cannot_allow_what_the_proxy_controls(name: str) -> None:
    route = Route(prefix="/api/x", upstream="http://127.0.0.1:9", request_headers=(name,))
    with pytest.raises(SettingsError, match="request_headers"):
        RouteTable((route,))


def test_upstream_cannot_grant_cors_or_set_origin_wide_policies() -> None:
    upstream = urllib3.HTTPHeaderDict({
        "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true",
        "Clear-Site-Data": '"*"', "Strict-Transport-Security": "max-age=0", "Refresh": "0;url=x",
        "Alt-Svc": "h3=:443", "Content-Type": "application/json",
    })
    names = {name.lower() for name, _ in downstream_headers(upstream, credentialed=False)}
    assert names == {"content-type"}


@pytest.mark.parametrize(("cache_control", "expected"), [
    (None, "no-store"),
    ("max-age=600", "private, max-age=600"),
    ("public, max-age=600", "private, max-age=600"),
    ("public, s-maxage=600, max-age=60", "private, max-age=60"),
    ("private, max-age=5", "private, max-age=5"),
    ("no-store", "no-store"),
    ("no-cache", "private, no-cache"),
])
def test_an_answer_chosen_by_the_browsers_credential_is_never_shared_cacheable(
        cache_control: str | None, expected: str) -> None:
    upstream = urllib3.HTTPHeaderDict({"Content-Type": "application/json"})
    if cache_control is not None:
        upstream["Cache-Control"] = cache_control
    upstream["Vary"] = "Accept"
    headers = dict(downstream_headers(upstream, credentialed=True))
    assert headers["Cache-Control"] == expected
    assert headers["Vary"] == "Accept, Cookie"


def test_an_answer_no_credential_chose_keeps_the_upstreams_caching() -> None:
    upstream = urllib3.HTTPHeaderDict({"Cache-Control": "public, max-age=600"})
    assert dict(downstream_headers(upstream, credentialed=False)) == {
        "Cache-Control": "public, max-age=600"}


@pytest.mark.parametrize(("token_type", "has_session", "plan"), [
    ("none", None, "none"), ("client", None, "client"),
    ("user", True, "user"), ("user", False, "login_required"),
    ("user-or-none", True, "user"), ("user-or-none", False, "none"),
    ("user-or-client", True, "user"), ("user-or-client", False, "client"),
])
def test_the_credential_each_token_type_sends(token_type: str, has_session: bool | None,
                                              plan: str) -> None:
    assert credential_plan(token_type, has_session) == plan


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(HEADER_NAMES, st.text(st.characters(min_codepoint=32, max_codepoint=255),
                                             max_size=40), max_size=12),
       st.sampled_from(["", "application/json"]), st.sampled_from(["", "12"]))
def test_the_header_size_bound_counts_what_werkzeug_shows(
        fields: dict[str, str], content_type: str, content_length: str) -> None:
    """The bound is read off the WSGI environ, before any request object exists; it counts
    each field as the request's header block carries it (name, colon, space, value, CRLF)."""
    environ = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in fields.items()}
    environ |= {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/x", "wsgi.url_scheme": "http"}
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if content_length:
        environ["CONTENT_LENGTH"] = content_length
    shown = EnvironHeaders(environ)
    assert request_header_bytes(environ) == sum(len(n) + len(v) + 4 for n, v in shown.items())
