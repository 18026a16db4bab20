"""Start-up is refused, with a message a person can act on, when the settings would weaken the
session: a cookie that would travel in clear text, ``SameSite=None``, a missing, short or
malformed key. Tried on the real entry points: ``bff serve`` and gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bff.settings import generate_secret_key
from tests.support import ROOT, free_port

GOOD = {
    "BFF_BASE_URL": "http://localhost:8000", "BFF_ISSUER": "http://localhost:8001",
    "BFF_CLIENT_ID": "bff", "BFF_CLIENT_SECRET": "secret",
    "BFF_REDIS_URL": "redis://127.0.0.1:1/0",
}


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env={**clean_environ(), **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "bff.cli", "serve", "--port", str(free_port())], env)


REFUSALS = {
    "cookie_in_clear_text_on_a_public_host": (
        {"BFF_BASE_URL": "http://app.example.com"}, "use https"),
    "samesite_none": ({"BFF_COOKIE_SAMESITE": "None"}, "cookie_samesite=None"),
    "missing_key": ({"BFF_SECRET_KEYS": ""}, "BFF_SECRET_KEYS is missing"),
    "short_key": ({"BFF_SECRET_KEYS": "c2hvcnQta2V5"}, "must be 32 random bytes"),
    "malformed_key": ({"BFF_SECRET_KEYS": "not base64!"}, "bff generate-key"),
    "one_bad_key_among_good_ones": (
        {"BFF_SECRET_KEYS": f"{generate_secret_key()},c2hvcnQ"}, "must be 32 random bytes"),
    "negative_replica_wait": ({"BFF_REDIS_WAIT_REPLICAS": "-1"}, "BFF_REDIS_WAIT_REPLICAS"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_inconsistent_settings_refuse_to_start(case: str) -> None:
    overrides, advice = REFUSALS[case]
    result = serve({**GOOD, "BFF_SECRET_KEYS": generate_secret_key(), **overrides})
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert advice in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_key_never_appears_in_the_refusal() -> None:
    key = generate_secret_key()
    result = serve({**GOOD, "BFF_SECRET_KEYS": key, "BFF_BASE_URL": "http://app.example.com"})
    assert result.returncode == 2
    assert key not in result.stderr + result.stdout


def test_gunicorn_refuses_to_boot_with_inconsistent_settings() -> None:
    result = run([sys.executable, "-m", "gunicorn", "-w", "1", "-b",
                  f"127.0.0.1:{free_port()}", "bff.app:create_app()"],
                 {**GOOD, "BFF_SECRET_KEYS": generate_secret_key(),
                  "BFF_COOKIE_SAMESITE": "None"})
    assert result.returncode != 0
    assert "cookie_samesite=None" in result.stderr
