from __future__ import annotations

from pathlib import Path

import pytest

from bff.authserver.passwords import hash_password
from bff.authserver.settings import SettingsError, load_settings, settings_from_mapping
from tests.support import ROOT

SECRET_HASH = hash_password("x")


def minimal(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "issuer": "http://localhost:8001",
        "users": [{"username": "alice", "password_hash": SECRET_HASH, "scopes": ["orders:read"]}],
        "clients": [{"client_id": "bff", "client_secret_hash": SECRET_HASH,
                     "redirect_uris": ["http://localhost:8000/cb"],
                     "scopes": ["openid", "orders:read"]}],
    }
    raw.update(overrides)
    return raw


def test_demo_config_loads() -> None:
    settings = load_settings(str(ROOT / "config" / "authserver.toml"), environ={})
    assert settings.issuer == "http://localhost:8001"
    assert settings.access_token_lifetime == 900
    assert settings.refresh_token_lifetime == 2592000
    assert settings.key_dir == "var/authserver/keys"
    assert {u.username for u in settings.users} == {"alice", "bob"}
    bff = settings.client("bff-demo")
    assert bff is not None and bff.audience == "demo-api"
    assert bff.backchannel_logout_uri == "http://localhost:8000/bff/backchannel-logout"
    service = settings.client("demo-service")
    assert service is not None and service.grant_types == ("client_credentials",)
    assert not any(c.trusted_first_party for c in settings.clients)


def test_environment_overrides_the_file() -> None:
    settings = settings_from_mapping(minimal(), {
        "BFF_AUTHSERVER_ISSUER": "http://localhost:9999/",
        "BFF_AUTHSERVER_REDIS_URL": "redis://127.0.0.1:7000/3",
        "BFF_AUTHSERVER_ACCESS_TOKEN_LIFETIME": "60",
        "BFF_AUTHSERVER_KEY_DIR": "/tmp/keys",
    })
    assert settings.issuer == "http://localhost:9999"
    assert settings.redis_url == "redis://127.0.0.1:7000/3"
    assert settings.access_token_lifetime == 60
    assert settings.key_dir == "/tmp/keys"


def test_redis_url_falls_back_to_the_bff_variable_then_the_default() -> None:
    assert settings_from_mapping(minimal(), {"BFF_REDIS_URL": "redis://r:1/0"}).redis_url == (
        "redis://r:1/0")
    assert settings_from_mapping(minimal(), {}).redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("raw", "message"), [
    (minimal(issuer=None), "issuer"),
    (minimal(issuer="ftp://x"), r"http\(s\) URL"),
    (minimal(issuer="http://auth.example.com"), "https"),
    (minimal(users=[{"username": "alice", "password": "wonderland"}]), "plaintext"),
    (minimal(users=[{"username": "alice", "password_hash": "wonderland"}]), "password_hash"),
    (minimal(clients=[{"client_id": "c", "client_secret": "s"}]), "plaintext"),
    (minimal(clients=[{"client_id": "c", "client_secret_hash": SECRET_HASH}]), "redirect_uris"),
    (minimal(clients=[{"client_id": "c", "client_secret_hash": SECRET_HASH,
                       "grant_types": ["password"]}]), "trusted_first_party"),
    (minimal(clients=[{"client_id": "c", "client_secret_hash": SECRET_HASH,
                       "grant_types": ["implicit"]}]), "unsupported grant type"),
    (minimal(clients=[{"client_id": "c", "client_secret_hash": SECRET_HASH,
                       "redirect_uris": ["/relative"]}]), "absolute"),
    (minimal(access_token_lifetime=0), "positive"),
    (minimal(signing_alg="HS256"), "RS256 or ES256"),
    (minimal(colour="blue"), "unknown setting"),
])
def test_bad_configuration_is_refused_with_a_clear_message(raw: dict[str, object],
                                                           message: str) -> None:
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping(raw, {})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(str(tmp_path / "nope.toml"), environ={})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("issuer = ", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(str(path), environ={})
