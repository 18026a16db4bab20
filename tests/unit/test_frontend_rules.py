"""The SPA-hosting decisions: caching, index.html fallback, reserved and hidden paths, the CSP."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from bff.frontend import (
    IMMUTABLE,
    REVALIDATE,
    cache_control,
    content_security_policy,
    dev_server_additions,
    is_hidden,
    is_reserved,
    serves_index,
)


def accept(header: str) -> MIMEAccept:
    return parse_accept_header(header, MIMEAccept)


PAGE = accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
ANY = accept("*/*")
JSON = accept("application/json")
STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@pytest.mark.parametrize("path", [
    "assets/index-BBNC6nA8.js",       # Vite
    "assets/index-G_OAox3W.css",
    "assets/vendor-D-3xk9aZ.js",      # a '-' inside Vite's hash
    "index-3f9a1c2b.js",              # a hex hash anywhere
    "static/js/main.3f9a1c2b.chunk.js",
    "main.4f5e6d7c8b9a0f1e.js",       # Angular
])
def test_hashed_assets_are_cached_for_a_year(path: str) -> None:
    assert cache_control(path) == IMMUTABLE


@pytest.mark.parametrize("path", [
    "index.html", "", "favicon.svg", "app.js", "styles.css", "robots.txt",
    "assets/icon-settings.svg",       # a word, not a hash: a new build may change it
    "assets/logo.png",
    "cafebabe-deadbeef.js",           # hex-looking words without a digit
])
def test_unhashed_files_are_revalidated(path: str) -> None:
    assert cache_control(path) == REVALIDATE


def test_navigation_to_a_client_side_route_gets_index_html() -> None:
    assert serves_index("orders/42", PAGE)
    assert serves_index("users/jane.doe", PAGE)
    assert serves_index("orders/42", ANY)          # curl, a link checker
    assert serves_index("orders/42", accept(""))   # no Accept header: anything goes


def test_missing_script_is_a_404_not_index_html() -> None:
    assert not serves_index("assets/index-Gone1234.js", ANY)
    assert not serves_index("assets/index-Gone1234.js", PAGE)
    assert not serves_index("styles.css", PAGE)
    assert not serves_index("logo.png", accept("image/avif,image/webp,*/*;q=0.8"))


def test_fetch_that_wants_json_is_not_answered_with_html() -> None:
    assert not serves_index("orders/42", JSON)
    assert not serves_index("orders/42", accept("text/html;q=0, application/json"))


def test_bff_and_api_paths_are_never_the_spa() -> None:
    assert is_reserved("api/unknown")
    assert is_reserved("bff/nothing")
    assert is_reserved("api")
    assert not is_reserved("apis/x")
    assert not is_reserved("orders")


def test_dotfiles_in_the_build_folder_are_hidden() -> None:
    assert is_hidden(".env")
    assert is_hidden(".git/config")
    assert is_hidden("assets/.DS_Store")
    assert not is_hidden(".well-known/security.txt")
    assert not is_hidden("assets/index-BBNC6nA8.js")


def test_default_policy_is_strict() -> None:
    assert content_security_policy() == STRICT


def test_additions_extend_directives_without_dropping_self() -> None:
    policy = content_security_policy((
        ("img-src", ("https://images.example",)),
        ("connect-src", ("https://o1.ingest.sentry.io",)),
    ))
    assert "img-src 'self' data: https://images.example;" in policy
    assert "connect-src 'self' https://o1.ingest.sentry.io;" in policy
    assert "script-src 'self';" in policy


def test_new_fetch_directive_inherits_before_adding() -> None:
    policy = content_security_policy((
        ("worker-src", ("blob:",)),
        ("media-src", ("https://media.example",)),
        ("script-src-elem", ("https://js.example",)),
    ))
    assert "worker-src 'self' blob:" in policy
    assert "media-src 'self' https://media.example" in policy
    assert "script-src-elem 'self' https://js.example" in policy


def test_allowing_something_replaces_none() -> None:
    policy = content_security_policy((("frame-ancestors", ("https://portal.example",)),))
    assert "frame-ancestors https://portal.example" in policy
    assert "'none'" in policy  # object-src and base-uri keep theirs


def test_non_fetch_directive_starts_empty() -> None:
    policy = content_security_policy((("report-uri", ("/csp-reports",)),))
    assert policy.endswith("; report-uri /csp-reports")


def test_dev_policy_allows_the_hot_reload_socket_and_inline_preamble() -> None:
    additions = dev_server_additions("http://127.0.0.1:5173", "http://localhost:8000")
    policy = content_security_policy(additions)
    assert "connect-src 'self' ws://127.0.0.1:5173 ws://localhost:5173" in policy
    assert "script-src 'self' 'unsafe-inline'" in policy
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "frame-ancestors 'none'" in policy


def test_dev_policy_over_https_uses_secure_sockets() -> None:
    additions = dev_server_additions("https://localhost:5173", "https://localhost:8443")
    assert ("connect-src", ("wss://localhost:5173",)) in additions
