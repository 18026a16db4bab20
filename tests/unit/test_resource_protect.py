"""@require_token and the RFC 6750 answers, through Flask's test client."""

from __future__ import annotations

import pytest
from flask import Flask, g

from bff.resource.errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ValidationUnavailable,
)
from bff.resource.fetching import FetchFailed
from bff.resource.jwks import JwksCache
from bff.resource.protect import (
    bearer_token,
    current_token,
    init_app,
    require_token,
    www_authenticate,
)
from bff.resource.settings import ValidatorSettings
from bff.resource.testing import TokenMint
from bff.resource.validation import TokenValidator

ISSUER = "https://issuer.test"


@pytest.fixture(scope="module")
def mint() -> TokenMint:
    return TokenMint(ISSUER)


def make_app(jwks) -> Flask:
    app = Flask(__name__)
    validator = TokenValidator(ValidatorSettings(issuer=ISSUER, audience="demo-api"),
                               keys=JwksCache(jwks, refetch_interval=3600))
    init_app(app, validator, realm="orders")

    @app.get("/read")
    @require_token("orders:read")
    def read():
        token = current_token()
        assert g.access_token is token
        return {"sub": token.sub}

    @app.post("/write")
    @require_token("orders:read", "orders:write")
    def write():
        return {"sub": current_token().sub}

    return app


@pytest.fixture
def client(mint: TokenMint):
    return make_app(mint.jwks).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("header", [None, "", "   ", "Basic YWxpY2U6d29uZGVybGFuZA==", "Negotiate"])
def test_no_bearer_token_counts_as_missing(header: str | None) -> None:
    with pytest.raises(MissingToken):
        bearer_token(header)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", 'Bearer "x"',
                                    "Bearer " + "a" * 20_000])
def test_malformed_bearer_header_is_invalid_request(header: str) -> None:
    with pytest.raises(InvalidRequest):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bEaReR abc.def-_~+/==") == "abc.def-_~+/=="


def test_www_authenticate_follows_rfc_6750() -> None:
    assert www_authenticate(MissingToken(), "orders") == 'Bearer realm="orders"'
    assert www_authenticate(InvalidToken("the access token has expired"), "orders") == (
        'Bearer realm="orders", error="invalid_token", '
        'error_description="the access token has expired"'
    )
    assert www_authenticate(InsufficientScope(("orders:write", "admin")), "orders") == (
        'Bearer realm="orders", error="insufficient_scope", '
        'error_description="the access token lacks a required scope", scope="orders:write admin"'
    )


def test_valid_token_reaches_the_view(client, mint: TokenMint) -> None:
    response = client.get("/read", headers=bearer(mint.mint("alice", "orders:read")))
    assert response.status_code == 200
    assert response.json == {"sub": "alice"}


def test_request_without_token_gets_401_without_error_attribute(client) -> None:
    response = client.get("/read")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders"'
    assert response.json["error"] == "missing_token"


def test_invalid_token_gets_401_invalid_token(client, mint: TokenMint) -> None:
    token = mint.mint("alice", claims={"aud": "billing-api"})
    response = client.get("/read", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="orders", error="invalid_token", error_description="'
    )
    assert response.json == {"error": "invalid_token",
                             "error_description": "the access token is meant for another audience"}
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_scope_gets_403_insufficient_scope(client, mint: TokenMint) -> None:
    response = client.post("/write", headers=bearer(mint.mint("bob", "orders:read")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="orders:read orders:write"' in response.headers["WWW-Authenticate"]
    assert response.json["error"] == "insufficient_scope"
    assert response.json["scope"] == "orders:read orders:write"


def test_malformed_header_gets_400_invalid_request(client) -> None:
    response = client.get("/read", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_error_responses_never_echo_the_token(client, mint: TokenMint) -> None:
    token = mint.mint("alice", claims={"iss": "https://evil.test"})
    response = client.get("/read", headers=bearer(token))
    assert response.status_code == 401
    exposed = response.get_data(as_text=True) + str(response.headers)
    assert all(part not in exposed for part in token.split("."))


def test_unreachable_issuer_gets_503_not_401(mint: TokenMint) -> None:
    def down() -> object:
        raise FetchFailed("connection refused")

    response = make_app(down).test_client().get("/read", headers=bearer(mint.mint("alice")))
    assert response.status_code == 503
    assert response.json["error"] == ValidationUnavailable.code
    assert "WWW-Authenticate" not in response.headers
    assert response.headers["Retry-After"]


def test_scope_names_are_checked_when_decorating() -> None:
    with pytest.raises(ConfigurationError):
        require_token('orders:read" error="x')


def test_realm_with_quotes_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        init_app(Flask(__name__), None, realm='a"b')  # type: ignore[arg-type]


def test_view_in_an_app_without_init_app_fails_loudly(mint: TokenMint) -> None:
    app = Flask(__name__)

    @app.get("/x")
    @require_token()
    def x():
        return "never"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError, match="init_app"):
        app.test_client().get("/x", headers=bearer(mint.mint()))
