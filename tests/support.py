"""Real processes for tests: a private redis-server and `bff` subcommands on free ports.

Every helper here starts a real process and guarantees it is stopped; nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import redis
import requests

from bff.processes import (
    ProcessFailed,
    free_port,
    free_port_run,
    redis_server_command,
    wait_for_port,
    wait_healthy,
)
from bff.sansio.forms import HtmlForm, first_form

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_redis(extra_args: Sequence[str] = ()) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH: install Debian's redis-server")
    directory = Path(tempfile.mkdtemp(prefix="bff-test-redis-"))
    port = free_port()
    proc = subprocess.Popen(redis_server_command(binary, port, directory, extra_args),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc, name="redis-server")
    return RedisServer(port=port, process=proc, directory=directory)


@dataclass
class BffProcess:
    """A `bff ...` subcommand running as its own process, listening on `port`."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_process(command: Sequence[str], port: int, env: Mapping[str, str] | None = None
                  ) -> BffProcess:
    """Start ``command`` with its output in a log file, without waiting (start several, then
    :func:`await_ready` each)."""
    log_path = Path(tempfile.mkstemp(prefix="bff-test-", suffix=".log")[1])
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(command), env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    return BffProcess(port=port, process=proc, log_path=log_path)


def await_ready(server: BffProcess, ready_path: str = "/healthz", timeout: float = 60.0,
                name: str = "server") -> BffProcess:
    """Until ``ready_path`` answers 200; stopped, with its log in the error, otherwise."""
    try:
        wait_healthy(f"{server.url}{ready_path}", server.process, name, timeout,
                     describe=server.log)
    except ProcessFailed:
        server.stop()
        raise
    return server


def start_process(command: Sequence[str], port: int, env: Mapping[str, str] | None = None,
                  ready_path: str = "/healthz", timeout: float = 30.0,
                  name: str = "server") -> BffProcess:
    """Start ``command`` (output to a log file) and wait until ``ready_path`` answers 200."""
    return await_ready(spawn_process(command, port, env), ready_path, timeout, name)


def start_bff(args: Sequence[str], port: int, env: Mapping[str, str] | None = None,
              ready_path: str = "/healthz", timeout: float = 30.0) -> BffProcess:
    """`python -m bff.cli ARGS` as a real process, ready when ``ready_path`` answers 200."""
    return start_process([sys.executable, "-m", "bff.cli", *args], port, env, ready_path,
                         timeout, name=f"bff {' '.join(args)}")


def start_gunicorn(port: int, env: Mapping[str, str], *, workers: int = 2, threads: int = 4,
                   extra_args: Sequence[str] = (), timeout: float = 60.0) -> BffProcess:
    """The BFF as production runs it: `gunicorn "bff.app:create_app()"`, gthread workers."""
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
               "--graceful-timeout", "3", *extra_args, "bff.app:create_app()"]
    return start_process(command, port, env, timeout=timeout, name="gunicorn")


@contextmanager
def running(process: BffProcess | RedisServer) -> Iterator[BffProcess | RedisServer]:
    try:
        yield process
    finally:
        process.stop()


@dataclass
class DemoPorts:
    """The demo's layout, which every stack of the suite follows: the BFF on ``port``, the
    authorization server on port+1, the demo API on port+2 (``bff demo --port``)."""

    port: int

    @property
    def bff_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port + 1}"

    @property
    def api_url(self) -> str:
        return f"http://localhost:{self.port + 2}"


@dataclass
class DemoStack(DemoPorts):
    """`bff demo` as a real process, on the demo's ports."""

    process: BffProcess
    redis: RedisServer

    def stop(self) -> None:
        self.process.stop()


def start_demo(redis_server: RedisServer, env: Mapping[str, str] | None = None) -> DemoStack:
    port = free_port_run(4)
    key_dir = tempfile.mkdtemp(prefix="bff-test-keys-")
    full_env = {"BFF_REDIS_URL": redis_server.url, "BFF_AUTHSERVER_KEY_DIR": key_dir,
                **(env or {})}
    process = start_bff(["demo", "--port", str(port)], port, env=full_env, timeout=60)
    for offset in (1, 2, 3):
        wait_for_port(port + offset)
    return DemoStack(port=port, process=process, redis=redis_server)


def parse_form(page: str) -> HtmlForm:
    """The page's first form, as the scripted browser submits it."""
    return first_form(page)


def submit_login(browser: requests.Session, login_page: requests.Response, username: str,
                 password: str) -> requests.Response:
    """Post the provider's login form as a person would: its hidden fields plus credentials."""
    form = parse_form(login_page.text)
    if form.action is None:
        raise AssertionError(f"no login form on {login_page.url}: {login_page.text[:300]}")
    fields = {**form.fields, "username": username, "password": password}
    return browser.post(urljoin(login_page.url, form.action), data=fields, allow_redirects=True)


def log_in(browser: requests.Session, bff_url: str, username: str, password: str,
           return_url: str = "/") -> requests.Response:
    """The full login as a scripted browser: follow redirects, post the form, land back."""
    page = browser.get(f"{bff_url}/bff/login", params={"returnUrl": return_url})
    page.raise_for_status()
    return submit_login(browser, page, username, password)


XHR = {"X-CSRF": "1"}


def asked_of_provider(location: str, provider_redis: redis.Redis) -> dict[str, list[str]]:
    """The authorization request the BFF made: the browser URL's parameters, or, for a pushed
    request (RFC 9126), what the reference provider holds for its ``request_uri``."""
    from bff.authserver.store import AuthStore

    params = parse_qs(urlsplit(location).query)
    if "request_uri" not in params:
        return params
    pushed = AuthStore(provider_redis).pushed_request(params["request_uri"][0])
    assert pushed is not None, "the provider holds no such pushed request"
    asked: dict[str, list[str]] = {}
    for name, value in pushed[1]:
        asked.setdefault(name, []).append(value)
    return asked
