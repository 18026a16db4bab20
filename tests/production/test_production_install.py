"""The production path as an operator takes it: ``pip install 'bff[production]'`` into a fresh
virtual environment (no dev extra, no editable install) and the README's production command,
against a real Redis, the reference provider and an upstream.

The install needs the package index and takes a minute or two; it happens once per module.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.settings import generate_secret_key
from tests.integration.authserver_support import (
    BFF_SECRET,
    REDIRECT_URI,
    AuthServer,
    config_text,
    start_authserver,
)
from tests.integration.scale_support import Upstream
from tests.support import ROOT, XHR, BffProcess, RedisServer, free_port, log_in, start_process

README_COMMAND = re.compile(r'gunicorn -c config/gunicorn\.conf\.py "bff\.app:create_app\(\)"')
INSTALL_TIMEOUT = 600


def readme_production_command() -> list[str]:
    """The command the README tells operators to run; the test runs exactly that."""
    match = README_COMMAND.search((ROOT / "README.md").read_text())
    assert match, "README.md no longer shows the production gunicorn command"
    return shlex.split(match.group(0))


@pytest.fixture(scope="module")
def production_venv() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="bff-production-venv-"))
    try:
        print(f"\nproduction install: python -m venv {directory}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
        print("production install: pip install '.[production]' (from the index, a minute or two)",
              flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [str(directory / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             f"{ROOT}[production]"],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PIP_EDITABLE")})
        assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
        print(f"production install: done in {time.monotonic() - started:.0f}s", flush=True)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def bff_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(redis_server: RedisServer, bff_port: int) -> Iterator[AuthServer]:
    base = f"http://localhost:{bff_port}"
    config = config_text().replace(REDIRECT_URI, f"{base}/bff/callback").replace(
        "http://localhost:8000/", f"{base}/")
    server = start_authserver(redis_server.url, config=config)
    try:
        yield server
    finally:
        server.stop()


def production_env(venv: Path, port: int, redis: RedisServer, provider: AuthServer,
                   routes: Path) -> dict[str, str]:
    return {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv), "PYTHONPATH": "",
        "BFF_BIND": f"127.0.0.1:{port}", "BFF_WORKERS": "2",
        "BFF_CONFIG": str(routes), "BFF_BASE_URL": f"http://localhost:{port}",
        "BFF_ISSUER": provider.issuer, "BFF_CLIENT_ID": "bff-demo",
        "BFF_CLIENT_SECRET": BFF_SECRET, "BFF_SECRET_KEYS": generate_secret_key(),
        "BFF_REDIS_URL": redis.url,
        "BFF_SCOPES": "openid profile email offline_access orders:read",
    }


@pytest.fixture(scope="module")
def production(production_venv: Path, bff_port: int, redis_server: RedisServer,
               provider: AuthServer, upstream: Upstream,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[BffProcess]:
    routes = tmp_path_factory.mktemp("production") / "routes.toml"
    routes.write_text(f'[[routes]]\nprefix = "/api/echo"\nupstream = "{upstream.url}/echo"\n'
                      'token = "user"\n')
    command = readme_production_command()
    command[0] = str(production_venv / "bin" / command[0])
    env = production_env(production_venv, bff_port, redis_server, provider, routes)
    process = start_process(command, bff_port, env, timeout=60, name="production gunicorn")
    try:
        yield process
    finally:
        process.stop()


def test_the_readme_production_command_starts_from_a_fresh_install_with_gevent_workers(
        production: BffProcess) -> None:
    assert requests.get(f"{production.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{production.url}/readyz", timeout=5).status_code == 200
    assert "Using worker: gevent" in production.log()


def test_a_login_and_a_proxied_call_work_on_the_production_install(
        production: BffProcess) -> None:
    browser = requests.Session()
    landing = log_in(browser, production.url, "alice", "wonderland")
    assert landing.url == f"{production.url}/", landing.text[:300]  # back from the provider
    user = browser.get(f"{production.url}/bff/user", headers=XHR, timeout=5)
    assert user.status_code == 200 and user.json()["sub"] == "alice"
    echoed = browser.get(f"{production.url}/api/echo/42", headers=XHR, timeout=5)
    assert echoed.status_code == 200
    assert echoed.json()["path"] == "/echo/42"
    assert echoed.json()["headers"]["Authorization"].startswith("Bearer ")


def test_forty_slow_clients_do_not_starve_the_production_workers(
        production: BffProcess) -> None:
    """The review's finding: with threaded workers, 40 connections trickling their headers made
    every other request time out."""
    slow: list[socket.socket] = []
    try:
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", production.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            slow.append(sock)
        started = time.monotonic()
        response = requests.get(f"{production.url}/healthz", timeout=10)
        assert response.status_code == 200
        print(f"\n/healthz beside 40 slow clients: {(time.monotonic() - started) * 1000:.0f} ms")
    finally:
        for sock in slow:
            sock.close()


def test_without_gevent_the_production_command_refuses_to_start_and_says_why(
        production_venv: Path, bff_port: int, redis_server: RedisServer, provider: AuthServer,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """gevent made unimportable in the process itself (``sys.modules['gevent'] = None``)."""
    routes = tmp_path_factory.mktemp("no-gevent") / "routes.toml"
    routes.write_text("")
    port = free_port()
    command = readme_production_command()
    runner = ("import sys; sys.modules['gevent'] = None; sys.argv = sys.argv[1:]; "
              "from gunicorn.app.wsgiapp import run; run()")
    result = subprocess.run(
        [str(production_venv / "bin" / "python"), "-c", runner, *command],
        env=production_env(production_venv, port, redis_server, provider, routes), cwd=ROOT,
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "pip install 'bff[production]'" in result.stderr
    assert "slow clients" in result.stderr


def test_the_container_image_builds_and_serves_where_an_engine_exists() -> None:
    engine = next((e for e in (shutil.which("docker"), shutil.which("podman")) if e and
                   subprocess.run([e, "info"], capture_output=True, timeout=30).returncode == 0),
                  None)
    if engine is None:
        pytest.skip("no running container engine on this machine: the Dockerfile is checked by "
                    "tests/unit/test_packaging.py and its install steps by the venv tests above")
    build = subprocess.run([engine, "build", "-q", "-t", "bff-test", str(ROOT)],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr
    port = free_port()
    run = subprocess.run([engine, "run", "-d", "--network", "host",
                          "-e", f"BFF_BIND=127.0.0.1:{port}", "bff-test"],
                         capture_output=True, text=True, timeout=60)
    container = run.stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.5)
        raise AssertionError("the container never answered /healthz")
    finally:
        subprocess.run([engine, "rm", "-f", container], capture_output=True, timeout=60)
