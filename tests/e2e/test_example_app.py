"""The React + Vite example (frontend/examples/react-vite) behind the BFF, in Chromium.

Built with Vite from the npm registry (``npm ci``, then ``vite build``) and served through
``frontend_dir``; and in development, Vite's dev server proxied through ``frontend_dev_server``
with its hot-reload socket going straight to Vite. Both ways a person logs in, sees and adds
orders, and logs out, with no Content-Security-Policy violation and no token in the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect
from werkzeug.serving import make_server

from bff.app import create_app
from bff.demo import render_config
from bff.settings import generate_secret_key, load_settings
from tests.support import (
    ROOT,
    BffProcess,
    DemoPorts,
    RedisServer,
    free_port,
    free_port_run,
    start_bff,
    wait_for_port,
)

EXAMPLE = ROOT / "frontend" / "examples" / "react-vite"
TIMEOUT_MS = 15_000
ROUTES = """\
[[routes]]
prefix = "/api/orders"
upstream = "http://127.0.0.1:{api_port}/orders"
methods = ["GET", "POST"]
token = "user"
scopes = ["orders:read"]
"""
EXPECTED_401 = re.compile(r"^Failed to load resource: .* 401 \(UNAUTHORIZED\)$")


def run(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
    if shutil.which(args[0]) is None and not Path(args[0]).is_file():
        raise RuntimeError(f"{args[0]} is not installed: the example needs Node 20.19+ and npm "
                           "(.ci/run installs them)")
    done = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def vite() -> str:
    return str(EXAMPLE / "node_modules" / ".bin" / "vite")


def node_modules_match_lock() -> bool:
    """npm records what it installed in node_modules/.package-lock.json: the lock's entries,
    less the optional ones for other platforms."""
    hidden = EXAMPLE / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False
    wanted = json.loads((EXAMPLE / "package-lock.json").read_text())["packages"]
    installed = json.loads(hidden.read_text())["packages"]
    required = {name for name, entry in wanted.items() if name and not entry.get("optional")}
    return required <= set(installed) and all(
        wanted.get(name) == entry for name, entry in installed.items())


@pytest.fixture(scope="module")
def installed() -> None:
    """``npm ci`` from the committed lock file, unless node_modules already matches it."""
    if not node_modules_match_lock():
        run(["npm", "ci", "--no-audit", "--no-fund"], EXAMPLE)


@pytest.fixture(scope="module")
def build(installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("react-vite-dist")
    run([vite(), "build", "--outDir", str(out), "--emptyOutDir"], EXAMPLE)
    assert (out / "index.html").is_file() and list((out / "assets").glob("index-*.js"))
    return out


@dataclass
class Stack(DemoPorts):
    """The reference provider and demo API on port+1 and port+2, the BFF on port."""

    env: dict[str, str]
    processes: list[BffProcess] = field(default_factory=list)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_provider_and_api(redis_server: RedisServer) -> Stack:
    port = free_port_run(3)
    workdir = Path(tempfile.mkdtemp(prefix="bff-example-"))
    issuer = f"http://localhost:{port + 1}"
    routes = workdir / "routes.toml"
    routes.write_text(ROUTES.format(api_port=port + 2))
    env = {
        "BFF_REDIS_URL": redis_server.url,
        "BFF_AUTHSERVER_ISSUER": issuer,
        "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys"),
        # What docs/quickstart.md configures: a TOML file with only the routes, and variables.
        "BFF_CONFIG": str(routes),
        "BFF_BASE_URL": f"http://localhost:{port}",
        "BFF_ISSUER": issuer,
        "BFF_CLIENT_ID": "bff-demo",
        "BFF_CLIENT_SECRET": "demo-bff-secret-change-me",
        "BFF_SCOPES": "openid profile email offline_access orders:read orders:write",
        "BFF_SECRET_KEYS": generate_secret_key(),
    }
    auth_config = render_config(ROOT / "config" / "authserver.toml", workdir / "authserver.toml",
                                port)
    stack = Stack(port=port, env=env)
    try:
        stack.processes.append(start_bff(["authserver", "--config", str(auth_config), "--port",
                                          str(port + 1)], port + 1, env=env))
        stack.processes.append(start_bff(["demo-api", "--issuer", issuer, "--port",
                                          str(port + 2)], port + 2, env=env))
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="module")
def built_stack(build: Path, redis_server: RedisServer) -> Iterator[Stack]:
    """`bff serve` with the example's build as its frontend_dir."""
    stack = start_provider_and_api(redis_server)
    try:
        stack.env["BFF_FRONTEND_DIR"] = str(build)
        stack.processes.append(start_bff(["serve", "--port", str(stack.port)], stack.port,
                                         env=stack.env))
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def dev_stack(installed: None, redis_server: RedisServer) -> Iterator[Stack]:
    """Vite's dev server, and a BFF proxying it (frontend_dev_server)."""
    vite_port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="bff-example-vite-", suffix=".log")[1])
    with log_path.open("wb") as log:
        dev = subprocess.Popen([vite(), "--port", str(vite_port), "--strictPort"], cwd=EXAMPLE,
                               env={**os.environ, "PORT": str(vite_port)}, stdout=log,
                               stderr=subprocess.STDOUT)
    stack = start_provider_and_api(redis_server)
    try:
        wait_for_port(vite_port, timeout=30, proc=dev)
        stack.env["BFF_FRONTEND_DEV_SERVER"] = f"http://localhost:{vite_port}"
        settings = load_settings(environ=stack.env)
        app = create_app(settings)
        server = make_server("127.0.0.1", stack.port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield stack
        finally:
            server.shutdown()
            server.server_close()
    finally:
        stack.stop()
        dev.terminate()
        dev.wait(timeout=10)


@dataclass
class Watched:
    """A page and everything it complained about or received."""

    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: dict[str, Response] = field(default_factory=dict)

    @classmethod
    def open(cls, browser: Browser) -> Watched:
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        context.set_default_timeout(TIMEOUT_MS)
        watched = cls(page=context.new_page())
        watched.page.on("console", watched._on_console)
        watched.page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
        watched.page.on("response", lambda r: watched.responses.setdefault(r.url, r))
        return watched

    def _on_console(self, message: ConsoleMessage) -> None:
        """Errors, CSP violations first; the anonymous ``/bff/user`` 401 is the expected answer."""
        self.console.append(message.text)
        if message.type == "error" and not EXPECTED_401.search(message.text):
            self.errors.append(message.text)

    def close(self) -> None:
        self.page.context.close()


def log_in_and_use_orders(watched: Watched, stack: Stack, username: str, password: str,
                          item: str) -> None:
    """The whole journey: a deep link, the provider's login, back to it, orders, reload, out."""
    page = watched.page
    page.goto(f"{stack.bff_url}/orders")
    page.get_by_test_id("login-button").click()
    page.wait_for_url(f"{stack.issuer}/**")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(f"{stack.bff_url}/orders")
    expect(page.get_by_test_id("user-name")).to_have_text("Alice Liddell")
    expect(page.get_by_test_id("empty-orders")).to_be_visible()
    page.get_by_test_id("order-item-input").fill(item)
    page.get_by_test_id("add-order-button").click()
    expect(page.get_by_test_id("orders-list")).to_contain_text(item)
    page.reload()
    expect(page.get_by_test_id("orders-list")).to_contain_text(item)
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_test_id("home-view")).to_contain_text("orders:write")
    assert page.url == f"{stack.bff_url}/"
    assert page.evaluate("document.cookie") == ""
    assert "eyJ" not in page.content()
    page.get_by_test_id("logout-button").click()
    if page.url.startswith(stack.issuer):
        page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("login-button")).to_be_visible()


def test_built_example_logs_in_under_the_strict_policy(built_stack: Stack,
                                                       chromium: Browser) -> None:
    watched = Watched.open(chromium)
    try:
        log_in_and_use_orders(watched, built_stack, "alice", "wonderland", "Blue teapot")
        assert watched.errors == []
        index = watched.responses[f"{built_stack.bff_url}/orders"]
        assert index.header_value("cache-control") == "no-cache"
        assert index.header_value("content-security-policy").startswith(
            "default-src 'self'; script-src 'self'; style-src 'self';")
        scripts = [r for url, r in watched.responses.items()
                   if url.startswith(f"{built_stack.bff_url}/assets/") and url.endswith(".js")]
        assert scripts and all(r.header_value("cache-control") ==
                               "public, max-age=31536000, immutable" for r in scripts)
    finally:
        watched.close()


def test_example_in_vite_dev_server_logs_in_with_hot_reload_connected(
        dev_stack: Stack, chromium: Browser) -> None:
    watched = Watched.open(chromium)
    try:
        log_in_and_use_orders(watched, dev_stack, "alice", "wonderland", "Green kettle")
        assert watched.errors == []
        assert any("[vite] connected" in text for text in watched.console), watched.console
        assert "/@vite/client" in watched.page.content()
    finally:
        watched.close()
