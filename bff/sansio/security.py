"""Anti-forgery, return-URL validation and security headers: plain decisions over plain data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

CSRF_HEADER = "X-CSRF"
CSRF_VALUE = "1"
ALLOWED_FETCH_SITES = ("same-origin", "none")

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def security_headers(headers: Sequence[tuple[str, str]], path: str) -> list[tuple[str, str]]:
    """An answer's headers as sent: the base security headers it lacks added, and under
    ``/bff/`` (sessions, forward-auth's tokens) never storable. One rule for the answers Flask
    serves and for those of ``bff.hot_path``."""
    kept = list(headers)
    if path.startswith("/bff/"):
        kept = [(name, value) for name, value in kept if name.lower() != "cache-control"]
        kept.append(("Cache-Control", "no-store"))
    present = {name.lower() for name, _ in kept}
    return kept + [(name, value) for name, value in BASE_HEADERS.items()
                   if name.lower() not in present]


def is_safe_return_url(value: str) -> bool:
    """Only a path on our own origin: no scheme, no host, no backslash tricks, no controls.

    Checked on the raw value and on every percent-decoding of it, so ``%2F%2Fevil`` and
    ``%252F%252Fevil`` are refused the same as ``//evil``.
    """
    candidate = value
    for _ in range(3):
        if not _is_plain_path(candidate):
            return False
        decoded = unquote(candidate)
        if decoded == candidate:
            return True
        candidate = decoded
    return False


def _is_plain_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return False
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def sole_value(values: Sequence[str]) -> str | None:
    """The one value a browser sent for a cookie, or None. A second, different copy (tossed by
    a sibling host for a narrower path) makes it ambiguous, and an ambiguous credential is no
    credential: no copy can win by the order a browser sends them in."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def csrf_problem(headers: Mapping[str, str], origin: str) -> str | None:
    """Why a state-changing or data-reading XHR must be refused, or None when it may pass.

    The custom header cannot be sent cross-origin without a CORS preflight, which the BFF never
    grants; ``Sec-Fetch-Site`` and ``Origin`` refuse cross-site callers even before that.
    """
    if headers.get(CSRF_HEADER) != CSRF_VALUE:
        return f"the {CSRF_HEADER}: {CSRF_VALUE} header is required"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ALLOWED_FETCH_SITES:
        return f"cross-site request ({site}) refused"
    request_origin = headers.get("Origin")
    if request_origin is not None and request_origin != origin:
        return "request from another origin refused"
    return None


def websocket_problem(headers: Mapping[str, str], origin: str) -> str | None:
    """Why a WebSocket upgrade must be refused, or None. A browser cannot add ``X-CSRF`` to a
    WebSocket, but it always sends ``Origin`` on one (RFC 6455 section 4.1), and no page can
    forge it: so the anti-forgery rule is that ``Origin`` is exactly this origin (and
    ``Sec-Fetch-Site``, when sent, says same-origin)."""
    if headers.get("Origin") != origin:
        return "a WebSocket from another origin (or without Origin) refused"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return f"cross-site WebSocket ({site}) refused"
    return None


def is_cross_site_navigation(headers: Mapping[str, str], origin: str) -> bool:
    """A top-level request started by another site (for endpoints that must not be driven so)."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ALLOWED_FETCH_SITES:
        return True
    request_origin = headers.get("Origin")
    return request_origin is not None and request_origin != origin
