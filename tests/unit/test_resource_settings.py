"""Settings that could never be safe are refused when built, with a message a person can act on."""

from __future__ import annotations

import pytest

from bff.resource.errors import ConfigurationError
from bff.resource.settings import IntrospectionSettings, ValidatorSettings


def settings(**overrides: object) -> ValidatorSettings:
    return ValidatorSettings(**{"issuer": "https://id.example", "audience": "orders", **overrides})


def test_defaults_follow_the_brief() -> None:
    s = settings()
    assert s.algorithms == ("RS256", "ES256")
    assert s.required_typ == "at+jwt"
    assert s.leeway == 30
    assert s.jwks_refetch_interval == 5


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ("RS256", "HS512"), ()])
def test_symmetric_or_none_algorithm_is_refused_in_settings(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError):
        settings(algorithms=algorithms)


@pytest.mark.parametrize("overrides", [
    {"issuer": "id.example"}, {"issuer": "file:///etc/passwd"}, {"audience": ""},
    {"leeway": -1}, {"leeway": 3600}, {"jwks_uri": "ftp://x/jwks"}, {"jwks_max_age": 0},
    {"jwks_refetch_interval": -1}, {"http_timeout": 0},
])
def test_unworkable_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        settings(**overrides)


def test_introspection_needs_credentials_and_hides_the_secret() -> None:
    with pytest.raises(ConfigurationError):
        IntrospectionSettings(client_id="api", client_secret="")
    introspection = IntrospectionSettings(client_id="api", client_secret="s3cr3t-value")
    assert "s3cr3t-value" not in repr(introspection)
