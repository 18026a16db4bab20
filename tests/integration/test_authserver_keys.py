"""Keys across processes: rotation with `bff authserver rotate-keys`, instances side by side,
ES256 signing."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jwt
import requests

from tests.integration.authserver_support import (
    AuthServer,
    Pkce,
    authorize_params,
    authserver_env,
    config_text,
    exchange_code,
    introspect,
    login,
    redirect_params,
    refresh,
    start_authserver,
    tokens_for,
)
from tests.support import ROOT, RedisServer


def rotate(server: AuthServer, redis_url: str, publish_ahead: int = 0) -> str:
    """Run the real `bff authserver rotate-keys` against the server's config and key dir."""
    env = {**authserver_env(redis_url, server.key_dir, server.url),
           "BFF_AUTHSERVER_KEY_PUBLISH_AHEAD": str(publish_ahead)}
    result = subprocess.run(
        [sys.executable, "-m", "bff.cli", "authserver", "rotate-keys", "--config",
         str(server.config_path)], env={**os.environ, **env}, cwd=ROOT,
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().rsplit(" ", 1)[-1]


def kids(server: AuthServer) -> list[str]:
    return [key["kid"] for key in requests.get(f"{server.url}/jwks").json()["keys"]]


def test_rotation_keeps_issued_tokens_valid_and_signs_with_the_new_key(
        redis_server: RedisServer) -> None:
    server = start_authserver(redis_server.url)
    try:
        before = tokens_for(server)
        old_kid = jwt.get_unverified_header(before["access_token"])["kid"]

        new_kid = rotate(server, redis_server.url, publish_ahead=2)
        assert new_kid != old_kid
        assert kids(server) == [new_kid, old_kid]
        published_first = tokens_for(server)
        assert jwt.get_unverified_header(published_first["access_token"])["kid"] == old_kid
        time.sleep(2.5)

        after = tokens_for(server)
        assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
        assert jwt.get_unverified_header(after["id_token"])["kid"] == new_kid

        # Everything issued before the rotation still verifies and is still active.
        assert server.verify(before["access_token"], audience="demo-api")["sub"] == "alice"
        assert server.verify(before["id_token"], audience="bff-demo")["sub"] == "alice"
        assert introspect(server, before["access_token"])["active"] is True
        renewed = refresh(server.url, before["refresh_token"])
        assert renewed.status_code == 200
        assert jwt.get_unverified_header(renewed.json()["access_token"])["kid"] == new_kid
        logout = requests.get(f"{server.url}/logout", allow_redirects=False, params={
            "id_token_hint": before["id_token"],
            "post_logout_redirect_uri": "http://localhost:8000/"})
        assert logout.status_code == 302
    finally:
        server.stop()


def test_rotation_survives_a_restart(redis_server: RedisServer) -> None:
    first = start_authserver(redis_server.url)
    rotate(first, redis_server.url)
    published = kids(first)
    first.stop()
    second = start_authserver(redis_server.url, key_dir=first.key_dir)
    try:
        assert kids(second) == published
    finally:
        second.stop()


def test_instances_side_by_side_share_keys_and_state(redis_server: RedisServer) -> None:
    key_dir = Path(tempfile.mkdtemp(prefix="bff-test-shared-keys-"))
    issuer = "http://localhost:18999"  # the public name both instances serve under
    started: list[AuthServer] = []

    def start() -> None:
        started.append(start_authserver(redis_server.url, key_dir=key_dir, issuer=issuer))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        a, b = started
        assert len(list(key_dir.glob("*.json"))) == 1
        assert kids(a) == kids(b)

        pkce = Pkce()
        code = redirect_params(login(requests.Session(), a.url, authorize_params(pkce)))["code"]
        tokens = exchange_code(b.url, code, pkce)
        assert tokens.status_code == 200, tokens.text
        rotated = refresh(a.url, tokens.json()["refresh_token"])
        assert rotated.status_code == 200
        assert refresh(b.url, tokens.json()["refresh_token"]).json()["error"] == "invalid_grant"
        assert introspect(a, rotated.json()["access_token"])["active"] is False
        assert b.verify(tokens.json()["access_token"], audience="demo-api")["iss"] == issuer
    finally:
        for server in started:
            server.stop()


def test_es256_signing_is_selectable(redis_server: RedisServer) -> None:
    server = start_authserver(redis_server.url, config=config_text(extra='signing_alg = "ES256"'))
    try:
        (key,) = requests.get(f"{server.url}/jwks").json()["keys"]
        assert key["kty"] == "EC" and key["alg"] == "ES256"
        doc = requests.get(f"{server.url}/.well-known/openid-configuration").json()
        assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
        tokens = tokens_for(server)
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "ES256"
        assert server.verify(tokens["access_token"], audience="demo-api")["sub"] == "alice"
        assert server.verify(tokens["id_token"], audience="bff-demo")["at_hash"]
    finally:
        server.stop()
