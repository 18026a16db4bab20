"""The /api proxy's rules as plain functions over plain data.

Which route serves a path, whether the rest of the path could climb out of the route's upstream
prefix, and which headers may cross in each direction: no I/O here, so each rule is unit-tested
on its own (``tests/unit/test_proxy_rules.py``).
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

from bff.errors import PathRejected
from bff.settings import IPNetwork, Route, SettingsError

UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# RFC 3986 gen-delims and sub-delims, '%' and '\\': decoded, each changes how a path is read.
RESERVED_WHEN_ENCODED = frozenset(":/?#[]@!$&'()*+,;=%\\")
ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
# The end-to-end request headers an API needs, and nothing else (invariant 10: an allow-list).
# Credentials, identity assertions, method and URL overrides, client certificates, API keys:
# whatever a header an upstream might trust is called, it is not here, so it never crosses.
# A route adds names with ``request_headers``.
REQUEST_HEADER_ALLOW_LIST = frozenset({
    "accept", "accept-encoding", "accept-language", "cache-control", "content-encoding",
    "content-language", "content-type", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "pragma", "prefer", "range", "user-agent",
    "traceparent", "tracestate",
})
# What the proxy itself sets or controls; no route may allow or set these.
PROXY_CONTROLLED = frozenset({
    "cookie", "authorization", "dpop", "x-csrf", "host", "content-length", "expect", "forwarded",
    "x-real-ip", "x-client-ip", "true-client-ip", "x-request-id", "transfer-encoding",
})
SPOOFABLE_PREFIXES = ("proxy-", "x-forwarded-")
# Towards the browser: no cookies for our origin, no auth dialogs, no CORS grants (invariant 5),
# and nothing that would let an upstream speak for the whole origin.
NEVER_DOWNSTREAM = frozenset({
    "set-cookie", "set-cookie2", "www-authenticate", "clear-site-data", "refresh",
    "alt-svc", "strict-transport-security", "public-key-pins", "public-key-pins-report-only",
    "service-worker-allowed",
})
NEVER_DOWNSTREAM_PREFIXES = ("access-control-",)
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^`|~0-9A-Za-z]+")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
INVALID_TOKEN = re.compile(r"""\berror\s*=\s*"?invalid_token\b""")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    remainder: str


class RouteTable:
    """Longest prefix wins; a prefix matches whole segments of the canonical path only."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        for route in routes:
            check_route(route)
        longest_first = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        # Each prefix as matched and case-folded, computed once rather than per request.
        self._exact = [(route, route.prefix) for route in longest_first]
        self._folded = [(route, route.prefix.casefold()) for route in longest_first]

    def match(self, raw_path: str) -> RouteMatch | None:
        """The route for a raw request path (raises PathRejected for an ambiguous one).

        Matching is case-sensitive; a path that a case-insensitive upstream would file under
        another route (``/api/orders/ADMIN`` beside ``/api/orders/admin``) is refused as
        ambiguous rather than sent under the looser route.
        """
        path = canonical_path(raw_path)
        route = _longest(self._exact, path)
        if _longest(self._folded, path.casefold()) is not route:
            raise PathRejected("This path differs from another API route only by letter case.")
        if route is None:
            return None
        return RouteMatch(route, path[len(route.prefix):])


def _longest(prefixes: list[tuple[Route, str]], path: str) -> Route | None:
    for route, prefix in prefixes:
        if path == prefix or path.startswith(prefix + "/"):
            return route
    return None


def check_route(route: Route) -> None:
    """What a route table refuses at start-up: a prefix that is not canonical, forged headers."""
    try:
        canonical = canonical_path(route.prefix)
    except PathRejected as exc:
        raise SettingsError(f"[[routes]] {route.prefix}: prefix is not a plain path: "
                            f"{exc.description}") from exc
    if canonical != route.prefix or route.prefix.endswith("/"):
        raise SettingsError(
            f"[[routes]] {route.prefix}: write the prefix as {canonical.rstrip('/')} "
            "(no escapes of letters or digits, no trailing '/')")
    check_static_headers(route)


def header_key(name: str) -> str:
    """One spelling for a header name: WSGI servers read ``X_User`` and ``X-User`` alike."""
    return name.lower().replace("_", "-")


def is_proxy_controlled(name: str) -> bool:
    key = header_key(name)
    return key in HOP_BY_HOP or key in PROXY_CONTROLLED or key.startswith(SPOOFABLE_PREFIXES)


def check_static_headers(route: Route) -> None:
    """A route's extra headers may not forge what the proxy itself controls, and its allowed
    browser headers may not let a browser do so either."""
    seen: set[str] = set()
    for name, _ in route.headers:
        key = header_key(name)
        controlled = is_proxy_controlled(name) and not (
            key == "authorization" and route.token == "none")
        if controlled or key in seen or "_" in name or not HEADER_NAME.fullmatch(name):
            raise SettingsError(
                f"[[routes]] {route.prefix}: the extra header {name!r} is set by the proxy "
                "itself (or given twice, or not a header name); remove it"
            )
        seen.add(key)
    for name in route.request_headers:
        if is_proxy_controlled(name) or "_" in name or not HEADER_NAME.fullmatch(name):
            raise SettingsError(
                f"[[routes]] {route.prefix}: request_headers may not allow {name!r}: the proxy "
                "sets or controls it (or it is not a header name)"
            )


def canonical_path(raw: str) -> str:
    """The one form of a request path that routing, audit and the upstream all see.

    Decided per segment: escapes of unreserved characters (``%61`` is ``a``) are decoded, other
    escapes are kept with upper-case hex; anything an upstream could read another way is refused
    before any upstream is contacted: path parameters (``;``, which Tomcat and Spring strip),
    escapes of reserved characters, of ``%`` (double encoding), ``\\`` or control bytes, escapes
    that are not UTF-8 (overlong forms included), dot and empty segments, raw bytes outside
    printable ASCII. What is left decodes the same however many times an upstream decodes it.
    """
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in raw) or "#" in raw:
        raise PathRejected("Spaces, control characters and non-ASCII must be percent-encoded.")
    if STRAY_PERCENT.search(raw):
        raise PathRejected("A '%' in the path must start a percent-encoded byte.")
    if "\\" in raw:
        raise PathRejected("Backslashes are not allowed in paths.")
    if ";" in raw:
        raise PathRejected("Path parameters (';') are not allowed in paths.")
    segments = [ESCAPE.sub(_canonical_escape, segment) for segment in raw.split("/")[1:]]
    if any(segment == "" for segment in segments[:-1]):
        raise PathRejected("Empty path segments ('//') are not allowed.")
    if any(segment in (".", "..") for segment in segments):
        raise PathRejected("'.' and '..' path segments are not allowed.")
    canonical = "/" + "/".join(segments)
    try:
        unquote_to_bytes(canonical).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PathRejected("Percent-encoded bytes in the path must be UTF-8.") from exc
    return canonical


def _canonical_escape(escape: re.Match[str]) -> str:
    byte = int(escape.group(1), 16)
    if chr(byte) in UNRESERVED:
        return chr(byte)
    if byte < 0x20 or byte == 0x7F or chr(byte) in RESERVED_WHEN_ENCODED:
        raise PathRejected(
            f"The encoded character %{escape.group(1).upper()} is ambiguous in a path; "
            "send it unencoded where it is allowed, or not at all.")
    return f"%{escape.group(1).upper()}"


def request_header_bytes(environ: Mapping[str, object]) -> int:
    """The size of the request's header block as sent (name, ``: ``, value, CRLF per field),
    read from the WSGI environ (``HTTP_X_A`` is ``X-A``; ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH`` have their header's length)."""
    size = 0
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            size += len(key) - 1 + len(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and isinstance(value, str) and value:
            size += len(key) + 4 + len(value)
    return size


def raw_request_path(environ: Mapping[str, object]) -> str:
    """The path exactly as the client sent it: decoded paths hide ``%2f`` and ``%2e``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if not raw.startswith("/"):
            raw = urlsplit(raw).path if "://" in raw else ""
        return raw.split("?", 1)[0]
    decoded = str(environ.get("PATH_INFO", "/")).encode("latin-1")
    return quote(decoded, safe="/:@!$&'()*+,;=-._~")


def connection_listed(value: str) -> set[str]:
    return {header_key(h.strip()) for h in value.split(",") if h.strip()}


def is_hop_by_hop(key: str, listed: set[str]) -> bool:
    return key in HOP_BY_HOP or key in listed or key.startswith("proxy-")


@dataclass(frozen=True)
class Forwarding:
    """Who asked, as far as the BFF can vouch for it."""

    peer: str
    peer_is_trusted_proxy: bool
    public_origin: str
    request_id: str


def is_trusted(peer: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def forwarding_headers(incoming: Mapping[str, str], forwarding: Forwarding) -> dict[str, str]:
    """``X-Forwarded-*`` and ``Forwarded`` (RFC 7239): extended when the peer is a trusted
    proxy, otherwise replaced, so a browser cannot claim another address."""
    scheme, _, host = forwarding.public_origin.partition("://")
    node = f'"[{forwarding.peer}]"' if ":" in forwarding.peer else forwarding.peer
    chain = forwarding.peer
    forwarded = f'for={node};host="{host}";proto={scheme}'
    if forwarding.peer_is_trusted_proxy:
        if prior := incoming.get("X-Forwarded-For", "").strip():
            chain = f"{prior}, {chain}"
        if prior := incoming.get("Forwarded", "").strip():
            forwarded = f"{prior}, {forwarded}"
    return {
        "X-Forwarded-For": chain,
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Host": host,
        "Forwarded": forwarded,
        "X-Request-ID": forwarding.request_id,
    }


def upstream_headers(incoming: Mapping[str, str], route: Route,
                     credential: Mapping[str, str], forwarding: Forwarding) -> dict[str, str]:
    """The browser headers on the allow-list (and the route's additions), compared in every
    spelling; then the forwarding headers, the route's own and the credential's
    (``Authorization``, and ``DPoP`` for a sender-constrained token)."""
    allowed = REQUEST_HEADER_ALLOW_LIST.union(header_key(n) for n in route.request_headers)
    route_owned = {header_key(name) for name, _ in route.headers}
    headers: dict[str, str] = {}
    for name, value in incoming.items():
        key = header_key(name)
        if "_" in name or key not in allowed or key in route_owned:
            continue
        headers[name] = value
    headers.update(forwarding_headers(incoming, forwarding))
    headers.update(route.headers)
    headers.update(credential)
    return headers


def downstream_headers(upstream: Mapping[str, str], *, credentialed: bool
                       ) -> list[tuple[str, str]]:
    """The upstream's headers minus hop-by-hop ones, cookies for our origin, auth dialogs, CORS
    grants and origin-wide policies; for an answer chosen by the browser's credential, made
    unstorable by shared caches."""
    listed = connection_listed(upstream.get("Connection", ""))
    chunked = "transfer-encoding" in {header_key(name) for name in upstream}
    kept = [
        (name, value) for name, value in upstream.items()
        if not is_hop_by_hop(header_key(name), listed)
        and header_key(name) not in NEVER_DOWNSTREAM
        and not header_key(name).startswith(NEVER_DOWNSTREAM_PREFIXES)
        and not (chunked and header_key(name) == "content-length")
        and not (credentialed and header_key(name) in ("cache-control", "vary"))
    ]
    if credentialed:
        kept.extend(private_caching(upstream.get("Cache-Control"), upstream.get("Vary")))
    return kept


def private_caching(cache_control: str | None, vary: str | None) -> list[tuple[str, str]]:
    """A credentialed answer may be kept by the browser as the upstream allows, never by a shared
    cache: ``public`` and ``s-maxage`` go, ``private`` is added, and an upstream that said
    nothing gets ``no-store``; ``Vary: Cookie`` joins the upstream's Vary."""
    directives = [d.strip() for d in (cache_control or "").split(",") if d.strip()]
    kept = [d for d in directives
            if d.split("=", 1)[0].strip().lower() not in ("public", "s-maxage", "private")]
    if not directives:
        value = "no-store"
    elif any(d.lower() == "no-store" for d in kept):
        value = ", ".join(kept)
    else:
        value = ", ".join(["private", *kept])
    varies = [v.strip() for v in (vary or "").split(",") if v.strip()]
    if "*" not in varies and not any(v.lower() == "cookie" for v in varies):
        varies.append("Cookie")
    return [("Cache-Control", value), ("Vary", ", ".join(varies))]


def is_invalid_token(status: int, www_authenticate: str) -> bool:
    return status == 401 and bool(INVALID_TOKEN.search(www_authenticate))


def credential_plan(token_type: str, has_session: bool | None) -> str:
    """Which credential a route's upstream gets: ``none``, ``client`` (client credentials),
    ``user`` (the session's token) or ``login_required``. ``has_session`` is None when the
    session was not read, which only ``none`` and ``client`` routes allow."""
    if token_type in ("none", "client"):
        return token_type
    if has_session:
        return "user"
    return {"user": "login_required", "user-or-none": "none",
            "user-or-client": "client"}[token_type]
