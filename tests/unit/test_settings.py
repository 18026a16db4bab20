from __future__ import annotations

from pathlib import Path

import pytest

from bff.settings import SettingsError, build_settings, generate_secret_key, load_settings

BASE = {
    "base_url": "https://app.example",
    "issuer": "https://id.example",
    "client_id": "spa",
    "client_secret": "s3cret",
}


def raw(**overrides: object) -> dict[str, object]:
    return {**BASE, "secret_keys": generate_secret_key(), **overrides}


def test_complete_settings_from_variables_and_routes_only(tmp_path: Path) -> None:
    toml = tmp_path / "bff.toml"
    toml.write_text('[[routes]]\nprefix = "/api/x"\nupstream = "http://127.0.0.1:9/x"\n')
    env = {"BFF_BASE_URL": "https://app.example", "BFF_ISSUER": "https://id.example/",
           "BFF_CLIENT_ID": "spa", "BFF_CLIENT_SECRET": "s",
           "BFF_SECRET_KEYS": generate_secret_key(), "BFF_REFRESH_SKEW": "30",
           "BFF_SCOPES": "openid api:read"}
    settings = load_settings(toml, environ=env)
    assert settings.issuer == "https://id.example"
    assert settings.refresh_skew == 30
    assert settings.scopes == ("openid", "api:read")
    assert settings.routes[0].prefix == "/api/x"
    assert settings.cookie_name == "__Host-bff"
    assert settings.redirect_uri == "https://app.example/bff/callback"


def test_secret_values_do_not_appear_in_repr() -> None:
    settings = build_settings(raw())
    assert "s3cret" not in repr(settings)
    assert repr(settings.secret_keys[0].key) not in repr(settings)


def test_missing_secret_keys_are_refused_with_advice() -> None:
    with pytest.raises(SettingsError, match="bff generate-key"):
        build_settings({**BASE})


def test_short_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="32 random bytes"):
        build_settings(raw(secret_keys="c2hvcnQ"))


def test_samesite_none_is_refused() -> None:
    with pytest.raises(SettingsError, match="cross-site"):
        build_settings(raw(cookie_samesite="None"))


def test_plain_http_on_a_public_host_is_refused() -> None:
    with pytest.raises(SettingsError, match="use https"):
        build_settings(raw(base_url="http://app.example"))


def test_plain_http_on_localhost_uses_an_unprefixed_cookie() -> None:
    settings = build_settings(raw(base_url="http://localhost:8000"))
    assert settings.cookie_name == "bff" and not settings.is_https


def test_base_url_with_a_path_is_refused() -> None:
    with pytest.raises(SettingsError, match="origin"):
        build_settings(raw(base_url="https://app.example/app"))


def test_hmac_id_token_algorithms_are_refused() -> None:
    with pytest.raises(SettingsError, match="asymmetric"):
        build_settings(raw(id_token_algorithms=["HS256"]))


def test_route_errors_name_the_route() -> None:
    with pytest.raises(SettingsError, match=r"#1.*prefix"):
        build_settings(raw(routes=[{"prefix": "/orders", "upstream": "http://x"}]))
    with pytest.raises(SettingsError, match="token must be"):
        build_settings(raw(routes=[{"prefix": "/api/a", "upstream": "http://x", "token": "x"}]))
    with pytest.raises(SettingsError, match="share a prefix"):
        build_settings(raw(routes=[{"prefix": "/api/a", "upstream": "http://x"}] * 2))


@pytest.mark.parametrize("resource", ["orders", "/api/orders", "https://api.example/#x",
                                      "https://api.example#", "", 42, ["https://a"]])
def test_a_resource_that_is_not_an_absolute_uri_is_refused_naming_route_and_key(
        resource: object) -> None:
    route = {"prefix": "/api/a", "upstream": "http://x", "resource": resource}
    with pytest.raises(SettingsError, match=r"/api/a.*resource must be an absolute URI"):
        build_settings(raw(routes=[route]))


def test_routes_resources_are_asked_for_at_login_once_each() -> None:
    settings = build_settings(raw(routes=[
        {"prefix": "/api/a", "upstream": "http://x", "resource": "https://a.example"},
        {"prefix": "/api/b", "upstream": "http://x", "resource": "https://a.example"},
        {"prefix": "/api/c", "upstream": "http://x", "resource": "urn:example:c"},
        {"prefix": "/api/d", "upstream": "http://x", "resource": "https://d.example",
         "token": "client"},
        {"prefix": "/api/e", "upstream": "http://x"},
    ]))
    assert settings.route_resources == ("https://a.example", "urn:example:c")


def test_a_resource_on_a_route_without_a_token_is_refused() -> None:
    route = {"prefix": "/api/a", "upstream": "http://x", "resource": "https://a", "token": "none"}
    with pytest.raises(SettingsError, match="resource needs a token"):
        build_settings(raw(routes=[route]))


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown settings"):
        build_settings(raw(redirect_uri="https://evil.example/cb"))


def test_key_rotation_list_first_encrypts() -> None:
    first, second = generate_secret_key(), generate_secret_key()
    settings = build_settings(raw(secret_keys=f"{first},{second}"))
    assert len(settings.secret_keys) == 2
    assert settings.secret_keys[0].kid != settings.secret_keys[1].kid
