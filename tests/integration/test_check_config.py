"""``bff check-config`` as an operator runs it: what it finds, and exit 0 only when the BFF could
serve (settings valid, Redis writable, discovery and JWKS readable). Runs against the demo's
authorization server and the test Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from bff.settings import generate_secret_key
from tests.integration.scale_support import CLIENT_ID, CLIENT_SECRET, bff_toml, check_config
from tests.support import DemoStack, RedisServer, free_port, running, start_redis


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bff.toml"
    path.write_text(bff_toml(free_port()))
    return path


def env_for(demo_stack: DemoStack, redis_server: RedisServer, **overrides: str) -> dict[str, str]:
    return {"BFF_BASE_URL": "http://localhost:8000", "BFF_ISSUER": demo_stack.issuer,
            "BFF_REDIS_URL": redis_server.url, "BFF_SECRET_KEYS": generate_secret_key(),
            **overrides}


def test_ready_configuration_reports_each_check_and_exits_0(
        demo_stack: DemoStack, redis_server: RedisServer, config: Path) -> None:
    env = env_for(demo_stack, redis_server)
    result = check_config(env, config)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "settings"], ["ok", "redis"], ["ok", "discovery"], ["ok", "revocation"],
        ["ok", "client"], ["ok", "par"], ["ok", "dpop"], ["ok", "jwks"]]
    assert f"client_id={CLIENT_ID} routes=1 keys=1" in lines[0]
    assert f"standalone 127.0.0.1:{redis_server.port} db 0: master, 0 replica(s), Redis" \
        in lines[1]
    assert "writable" in lines[1]
    assert f"issuer {demo_stack.issuer}" in lines[2]
    assert "logout revokes refresh tokens at" in lines[3]
    assert f"{CLIENT_ID} authenticates with client_secret_basic" in lines[4]
    assert "pushed authorization requests to" in lines[5]
    assert "bearer tokens (BFF_DPOP=off)" in lines[6]
    assert "signing key(s)" in lines[7]
    assert "ready to serve" in result.stderr
    assert CLIENT_SECRET not in result.stdout + result.stderr
    assert env["BFF_SECRET_KEYS"] not in result.stdout + result.stderr


def test_a_wrong_client_secret_is_not_ready(demo_stack: DemoStack, redis_server: RedisServer,
                                           config: Path) -> None:
    """The review's finding: check-config said ready with a wrong secret. A token request for a
    code no one issued tells invalid_client (wrong secret) from invalid_grant (right one)."""
    result = check_config(env_for(demo_stack, redis_server, BFF_CLIENT_SECRET="not-the-secret"),
                          config)
    assert result.returncode == 1
    client = next(line for line in result.stdout.splitlines() if " client " in line)
    assert client.startswith("FAIL") and "invalid_client" in client
    assert "not-the-secret" not in result.stdout + result.stderr


def test_a_forced_client_auth_method_is_reported(demo_stack: DemoStack,
                                                 redis_server: RedisServer,
                                                 config: Path) -> None:
    result = check_config(env_for(demo_stack, redis_server,
                                  BFF_CLIENT_AUTH="client_secret_post"), config)
    assert result.returncode == 0, result.stdout
    assert "authenticates with client_secret_post" in result.stdout


def test_unreachable_redis_fails_the_check(demo_stack: DemoStack, redis_server: RedisServer,
                                           config: Path) -> None:
    result = check_config(env_for(demo_stack, redis_server,
                                  BFF_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"), config)
    assert result.returncode == 1
    assert "FAIL redis" in result.stdout
    assert "ConnectionError" in result.stdout
    assert "ok   discovery" in result.stdout
    assert "not ready" in result.stderr


def test_wrong_redis_password_fails_without_printing_it(
        demo_stack: DemoStack, redis_server: RedisServer, config: Path) -> None:
    with running(start_redis(["--requirepass", "the-right-one"])) as protected:
        url = f"redis://:hunter2-not-printed@127.0.0.1:{protected.port}/0"
        result = check_config(env_for(demo_stack, redis_server, BFF_REDIS_URL=url), config)
    assert result.returncode == 1
    assert "FAIL redis" in result.stdout
    assert "AuthenticationError" in result.stdout
    assert "hunter2-not-printed" not in result.stdout + result.stderr


def test_unreachable_provider_fails_the_check(demo_stack: DemoStack, redis_server: RedisServer,
                                              config: Path) -> None:
    issuer = f"http://localhost:{free_port()}"
    result = check_config(env_for(demo_stack, redis_server, BFF_ISSUER=issuer), config)
    assert result.returncode == 1
    assert "ok   redis" in result.stdout
    assert f"FAIL discovery  {issuer}" in result.stdout


def test_invalid_settings_say_what_to_fix(demo_stack: DemoStack, redis_server: RedisServer,
                                          config: Path) -> None:
    result = check_config(env_for(demo_stack, redis_server,
                                  BFF_REDIS_URL="redis+sentinel://127.0.0.1:26379"), config)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL settings")
    assert "redis+sentinel://s1:26379,s2:26379/mymaster/0" in result.stdout


@pytest.mark.parametrize("route", [
    'headers = { Cookie = "x" }', 'request_headers = ["Authorization"]',
])
def test_check_config_refuses_the_routes_start_up_refuses(
        demo_stack: DemoStack, redis_server: RedisServer, tmp_path: Path, route: str) -> None:
    """The review's reading: check-config said ok for a route create_app then refused."""
    config = tmp_path / "bff.toml"
    config.write_text(bff_toml(free_port(), extra_routes=(
        f'\n[[routes]]\nprefix = "/api/x"\nupstream = "http://127.0.0.1:9/x"\n{route}\n')))
    result = check_config(env_for(demo_stack, redis_server), config)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL settings") and "/api/x" in result.stdout
