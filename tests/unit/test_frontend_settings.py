"""The SPA settings: dev server origin and Content-Security-Policy additions."""

from __future__ import annotations

from typing import Any

import pytest

from bff.settings import (
    Settings,
    SettingsError,
    build_settings,
    generate_secret_key,
    load_settings,
    parse_csp_additions,
)


def settings(**extra: Any) -> Settings:
    return build_settings({
        "base_url": "http://localhost:8000", "issuer": "http://localhost:8001",
        "client_id": "c", "client_secret": "s", "secret_keys": generate_secret_key(), **extra,
    })


def test_csp_additions_from_a_toml_table() -> None:
    assert parse_csp_additions({
        "img-src": ["https://images.example", "blob:"],
        "Connect-Src": "https://api.example wss://push.example",
    }) == (
        ("img-src", ("https://images.example", "blob:")),
        ("connect-src", ("https://api.example", "wss://push.example")),
    )


def test_csp_additions_from_the_variable_use_csp_syntax() -> None:
    assert parse_csp_additions("img-src https://a.example; ; img-src https://b.example "
                               "https://a.example; worker-src blob:") == (
        ("img-src", ("https://a.example", "https://b.example")),
        ("worker-src", ("blob:",)),
    )


@pytest.mark.parametrize("value", [
    {"img-src": ["https://a.example; script-src *"]},
    {"img-src": ["https://a.example,script-src"]},
    "img-src https://a.example, script-src 'unsafe-eval'",
])
def test_csp_source_cannot_inject_a_directive_or_a_second_policy(value: Any) -> None:
    with pytest.raises(SettingsError, match="without spaces"):
        parse_csp_additions(value)


@pytest.mark.parametrize("value", [
    {"img src": ["https://a.example"]},
    {"img-src;script-src": ["https://a.example"]},
    "1mg-src https://a.example",
])
def test_csp_directive_names_are_checked(value: Any) -> None:
    with pytest.raises(SettingsError, match="directive"):
        parse_csp_additions(value)


def test_csp_directive_without_sources_is_refused() -> None:
    with pytest.raises(SettingsError, match="needs sources"):
        parse_csp_additions({"img-src": []})


def test_csp_additions_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(SettingsError, match="table of directive"):
        parse_csp_additions(42)


def test_dev_server_must_be_an_origin() -> None:
    assert settings(frontend_dev_server="http://localhost:5173/").frontend_dev_server == \
        "http://localhost:5173"
    with pytest.raises(SettingsError, match="BFF_FRONTEND_DEV_SERVER"):
        settings(frontend_dev_server="http://localhost:5173/app")
    with pytest.raises(SettingsError, match="BFF_FRONTEND_DEV_SERVER"):
        settings(frontend_dev_server="localhost:5173")


def test_spa_settings_come_from_the_environment() -> None:
    loaded = load_settings(environ={
        "BFF_BASE_URL": "http://localhost:8000", "BFF_ISSUER": "http://localhost:8001",
        "BFF_CLIENT_ID": "c", "BFF_CLIENT_SECRET": "s", "BFF_SECRET_KEYS": generate_secret_key(),
        "BFF_FRONTEND_DEV_SERVER": "http://localhost:5173",
        "BFF_CONTENT_SECURITY_POLICY_EXTRA": "img-src https://images.example",
    })
    assert loaded.frontend_dev_server == "http://localhost:5173"
    assert loaded.content_security_policy_extra == (("img-src", ("https://images.example",)),)


def test_spa_settings_default_to_a_build_folder_and_the_strict_policy() -> None:
    plain = settings()
    assert plain.frontend_dev_server is None
    assert plain.content_security_policy_extra == ()
