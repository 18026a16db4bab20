"""One proxy stack for every module of this package (scope ``package``): starting the
authorization server, two `bff serve` and a gunicorn costs seconds, the tests need one."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bff.sealing import Sealer
from bff.sessions import SessionStore
from bff.settings import generate_secret_key, load_settings
from bff.store import connect
from tests.integration.proxy.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPES,
    EchoUpstream,
    KeepAliveUpstream,
    Stack,
    authserver_config,
    routes_config,
)
from tests.support import (
    BffProcess,
    RedisServer,
    free_port,
    start_bff,
    start_gunicorn,
)


@pytest.fixture(scope="package")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="bff-test-proxy-"))
    upstream, pooled = EchoUpstream(), KeepAliveUpstream()
    bff_port, trusting_port, gunicorn_port, auth_port = (free_port() for _ in range(4))
    (work / "authserver.toml").write_text(authserver_config(bff_port))
    config = work / "bff.toml"
    config.write_text(routes_config(upstream.url, f"http://127.0.0.1:{pooled.port}",
                                    free_port()))
    env = {
        "BFF_BASE_URL": f"http://localhost:{bff_port}",
        "BFF_ISSUER": f"http://localhost:{auth_port}",
        "BFF_CLIENT_ID": CLIENT_ID,
        "BFF_CLIENT_SECRET": CLIENT_SECRET,
        "BFF_SCOPES": SCOPES,
        "BFF_REDIS_URL": redis_server.url,
        "BFF_SECRET_KEYS": generate_secret_key(),
    }
    started: list[BffProcess] = []
    try:
        started.append(start_bff(
            ["authserver", "--config", str(work / "authserver.toml"), "--port", str(auth_port)],
            auth_port, env={"BFF_AUTHSERVER_ISSUER": env["BFF_ISSUER"],
                            "BFF_AUTHSERVER_REDIS_URL": redis_server.url,
                            "BFF_AUTHSERVER_KEY_DIR": str(work / "keys")}))
        started.append(start_bff(["serve", "--config", str(config), "--port", str(bff_port)],
                                 bff_port, env=env))
        started.append(start_bff(
            ["serve", "--config", str(config), "--port", str(trusting_port)], trusting_port,
            env={**env, "BFF_BASE_URL": f"http://localhost:{trusting_port}",
                 "BFF_TRUSTED_PROXIES": "127.0.0.1/32"}))
        started.append(start_gunicorn(gunicorn_port, {
            **env, "BFF_CONFIG": str(config),
            "BFF_BASE_URL": f"http://localhost:{gunicorn_port}"}))
        settings = load_settings(config, environ=env)
        store = SessionStore(connect(redis_server.url), Sealer(settings.secret_keys), settings)
        yield Stack(upstream, pooled, *started, store=store, settings=settings)
    finally:
        for process in reversed(started):
            process.stop()
        upstream.stop()
        pooled.stop()


@pytest.fixture(params=["bff serve", "gunicorn"])
def front(request: pytest.FixtureRequest, stack: Stack) -> BffProcess:
    """The BFF as developers run it and as production runs it."""
    return stack.bff if request.param == "bff serve" else stack.gunicorn
