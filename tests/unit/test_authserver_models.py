from __future__ import annotations

from bff.authserver.models import Client, is_api_scope, limit_to_user
from bff.authserver.passwords import hash_password
from bff.authserver.settings import ClientConfig, User

SECRET = "s3cret"
CONFIG = ClientConfig(client_id="bff", client_secret_hash=hash_password(SECRET),
                      redirect_uris=("http://localhost:8000/cb",),
                      scopes=("openid", "profile", "orders:read", "orders:write"))
BOB = User(username="bob", password_hash=hash_password("x"), scopes=("orders:read",))


def test_identity_scopes_are_not_api_scopes() -> None:
    assert not is_api_scope("openid") and not is_api_scope("offline_access")
    assert is_api_scope("orders:read")


def test_api_scopes_are_limited_to_the_user() -> None:
    assert limit_to_user("openid profile orders:read orders:write", BOB) == (
        "openid profile orders:read")


def test_allowed_scope_is_the_intersection_with_the_client() -> None:
    client = Client(CONFIG)
    assert client.get_allowed_scope("openid email orders:read admin") == "openid orders:read"
    assert client.get_allowed_scope(None) == ""


def test_redirect_uri_must_match_exactly() -> None:
    client = Client(CONFIG)
    assert client.check_redirect_uri("http://localhost:8000/cb")
    for uri in ("http://localhost:8000/cb/", "http://localhost:8000/cb?x=1",
                "HTTP://localhost:8000/cb", "http://localhost:8000/c"):
        assert not client.check_redirect_uri(uri)


def test_password_grant_needs_a_trusted_first_party_client() -> None:
    untrusted = Client(ClientConfig(client_id="c", client_secret_hash=CONFIG.client_secret_hash,
                                    grant_types=("password",)))
    assert not untrusted.check_grant_type("password")
    trusted = Client(ClientConfig(client_id="t", client_secret_hash=CONFIG.client_secret_hash,
                                  grant_types=("password",), trusted_first_party=True))
    assert trusted.check_grant_type("password")


def test_client_secret_is_checked_against_its_own_hash() -> None:
    assert Client(CONFIG).check_client_secret(SECRET)
    assert not Client(CONFIG).check_client_secret("wrong")
    rotated = ClientConfig(client_id="bff", client_secret_hash=hash_password("new"))
    assert not Client(rotated).check_client_secret(SECRET)  # a remembered secret is per hash
