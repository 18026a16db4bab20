"""docs/settings.md is what the settings code renders, and every setting is described."""

from __future__ import annotations

import dataclasses

from bff import settings_doc
from bff.settings import ENV_KEYS, ROUTE_DESCRIPTIONS, SETTING_DESCRIPTIONS, Route, Settings


def test_every_setting_has_a_description() -> None:
    names = {f.name for f in dataclasses.fields(Settings)}
    assert names - set(SETTING_DESCRIPTIONS) == set(), "describe them in SETTING_DESCRIPTIONS"
    assert set(SETTING_DESCRIPTIONS) - names == set(), "a description for a setting that is gone"


def test_every_route_key_has_a_description() -> None:
    assert {f.name for f in dataclasses.fields(Route)} == set(ROUTE_DESCRIPTIONS)


def test_every_variable_names_a_setting() -> None:
    names = {f.name for f in dataclasses.fields(Settings)}
    assert set(ENV_KEYS.values()) <= names


def test_settings_reference_is_up_to_date() -> None:
    expected = settings_doc.render()
    assert settings_doc.DOC_PATH.read_text() == expected, \
        "docs/settings.md is stale: run python -m bff.settings_doc"
    assert settings_doc.main(["--check"]) == 0


def test_reference_shows_each_variable_with_its_key_and_default() -> None:
    text = settings_doc.render()
    for variable, key in ENV_KEYS.items():
        assert f"| `{variable}` | `{key}` |" in text
    assert "| `BFF_BASE_URL` | `base_url` | **required** |" in text
    assert "| `BFF_SESSION_IDLE_TIMEOUT` | `session_idle_timeout` | `3600` |" in text
    assert "| (file only) | `routes` | none |" in text
