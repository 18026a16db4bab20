"""The processes a benchmark run needs, each on a free localhost port and always stopped.

Everything is a real server: two private ``redis-server`` processes (the BFF's, so that
``INFO commandstats`` counts only the BFF, and the authorization server's), nginx as the upstream,
the reference authorization server, the BFF and the bare proxy under gunicorn, and the Node.js peer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

import bff
from bff.processes import (
    free_port,
    redis_server_command,
    stop,
    wait_for_port,
    wait_healthy,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
# Where the measured bff/ lives: the --ref snapshot, else this checkout. Servers start there,
# since gunicorn (and ``python -m``) put their working directory first on sys.path.
CODE_ROOT = Path(bff.__file__).resolve().parents[1]
CLIENT_SECRET = "demo-bff-secret-change-me"
BIG_BYTES = 1024 * 1024
UPSTREAM_BODY = (
    '{"orders":[{"id":1,"item":"Darjeeling tea","qty":2,"status":"shipped"},'
    '{"id":2,"item":"Earl Grey","qty":1,"status":"open"},'
    '{"id":3,"item":"Sencha","qty":5,"status":"open"}]}'
)

# Debian package for each program the harness runs, for the message on a fresh machine.
DEBIAN_PACKAGES = {"wrk": "wrk", "nginx": "nginx-light", "redis-server": "redis-server",
                   "node": "nodejs", "npm": "npm"}


class StackError(RuntimeError):
    pass


def missing_programs(names: Sequence[str]) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def install_hint(missing: Sequence[str]) -> str:
    packages = sorted({DEBIAN_PACKAGES[name] for name in missing})
    return f"apt-get install -y {' '.join(packages)}"


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def spawn(name: str, args: Sequence[str], port: int, workdir: Path,
          env: Mapping[str, str] | None = None, ready_path: str | None = "/healthz",
          cwd: Path = CODE_ROOT) -> Iterator[Process]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})})
    try:
        if ready_path is None:
            wait_for_port(port, proc, name, timeout=20, describe=lambda: _tail(log))
        else:
            wait_healthy(f"http://127.0.0.1:{port}{ready_path}", proc, name, timeout=60,
                         describe=lambda: _tail(log))
        yield Process(name, port, proc, log)
    finally:
        stop(proc)
        report_problems(name, log)


def report_problems(name: str, log: Path) -> None:
    """Warnings and tracebacks a server logged: a figure from a server that misbehaved is not
    a figure, so they are shown rather than left in a log deleted with the workspace."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return
    problems = [line for line in lines if "Warning" in line or "Traceback" in line]
    for line in problems[:5]:
        print(f"    {name} logged: {line.strip()[:200]}", flush=True)


@contextmanager
def redis_server(workdir: Path, name: str) -> Iterator[Process]:
    port = free_port()
    directory = workdir / name
    directory.mkdir()
    with spawn(name, redis_server_command("redis-server", port, directory), port, workdir,
               ready_path=None) as process:
        yield process


def redis_client(process: Process) -> redis.Redis:
    return redis.Redis(port=process.port)


NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location / {{ return 200 '{body}'; }}
        # A 1 MB download, for the rows that show where the bytes cross Python (the edge passes
        # the whole path on, the BFF and the peer the part after their route's prefix).
        location ~ ^(/api)?/orders/big$ {{
            alias {dir}/big.bin; default_type application/octet-stream;
        }}
    }}
}}
"""


@contextmanager
def nginx(workdir: Path, workers: int = 1) -> Iterator[Process]:
    """The upstream: nginx answering every path with a small JSON body from memory."""
    port = free_port()
    directory = workdir / "nginx"
    directory.mkdir()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, dir=directory, port=port,
                                      body=UPSTREAM_BODY))
    (directory / "big.bin").write_bytes(os.urandom(BIG_BYTES))
    # nginx's workers run as an unprivileged user: they must be able to read the file.
    for path, mode in ((workdir, 0o755), (directory, 0o755), (directory / "big.bin", 0o644)):
        path.chmod(mode)
    with spawn("nginx", ["nginx", "-c", str(conf), "-p", str(directory)], port, workdir,
               ready_path=None) as process:
        yield process


def authserver_config(workdir: Path, bff_port: int, peer_port: int) -> Path:
    """The demo's authorization server config for these ports, plus a client for the peer."""
    from bff.demo import render_config

    target = render_config(ROOT / "config" / "authserver.toml", workdir / "authserver.toml",
                           bff_port)
    client = _demo_client_block(target.read_text())
    peer = (client.replace('client_id = "bff-demo"', 'client_id = "bench-peer"')
            .replace(f"http://localhost:{bff_port}/bff/callback",
                     f"http://localhost:{peer_port}/callback")
            .replace(f"http://localhost:{bff_port}/bff/backchannel-logout",
                     f"http://localhost:{peer_port}/backchannel-logout")
            .replace(f"http://localhost:{bff_port}/", f"http://localhost:{peer_port}/"))
    target.write_text(target.read_text() + "\n" + peer)
    return target


def _demo_client_block(text: str) -> str:
    blocks = text.split("[[clients]]")
    for block in blocks[1:]:
        if 'client_id = "bff-demo"' in block:
            return "[[clients]]" + block.split("\n\n#")[0].rstrip() + "\n"
    raise StackError("config/authserver.toml has no bff-demo client to copy for the peer")


@contextmanager
def authserver(workdir: Path, port: int, config: Path, redis_url: str,
               access_token_lifetime: int = 900) -> Iterator[Process]:
    env = {
        "BFF_AUTHSERVER_REDIS_URL": redis_url,
        "BFF_AUTHSERVER_ISSUER": f"http://localhost:{port}",
        "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys"),
        "BFF_AUTHSERVER_ACCESS_TOKEN_LIFETIME": str(access_token_lifetime),
        "PYTHONUNBUFFERED": "1",
    }
    with spawn("authserver", [sys.executable, "-m", "bff.cli", "authserver", "--config",
                              str(config), "--port", str(port)], port, workdir, env) as process:
        yield process


@dataclass(frozen=True)
class ServerSpec:
    """A gunicorn worker setup: ``gthread/2/16`` is 2 workers of 16 threads; for gevent the
    third number is worker connections. ``default`` is config/gunicorn.conf.py unchanged."""

    text: str

    @property
    def label(self) -> str:
        """For ``default``, what config/gunicorn.conf.py resolves to here (gevent/2/1000 ...)."""
        if self.text != "default":
            return self.text
        import runpy

        conf = runpy.run_path(str(GUNICORN_CONF))
        per_worker = conf["threads"] if conf["worker_class"] == "gthread" else \
            conf["worker_connections"]
        return f"{conf['worker_class']}/{conf['workers']}/{per_worker} (default)"

    def gunicorn_args(self) -> list[str]:
        if self.text == "default":
            return []
        parts = self.text.split("/")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise StackError(f"server spec {self.text!r}: use CLASS/WORKERS/THREADS, "
                             "e.g. gthread/2/16 or gevent/2/256")
        worker_class, workers, concurrency = parts
        args = ["--worker-class", worker_class, "--workers", workers]
        if worker_class == "gthread":
            return [*args, "--threads", concurrency]
        return [*args, "--worker-connections", concurrency]


def bff_config(workdir: Path, bff_port: int, issuer: str, upstream: Process) -> Path:
    path = workdir / f"bff-{bff_port}.toml"
    path.write_text(f"""\
base_url = "http://localhost:{bff_port}"
issuer = "{issuer}"
client_id = "bff-demo"
client_secret = "{CLIENT_SECRET}"
scopes = "openid profile email offline_access orders:read orders:write"

[[routes]]
prefix = "/api/orders"
upstream = "http://127.0.0.1:{upstream.port}/orders"
methods = ["GET", "POST"]
token = "user"
scopes = ["orders:read"]
""")
    return path


def gunicorn_command(app: str, port: int, spec: ServerSpec) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
            "--chdir", str(CODE_ROOT), "--bind", f"127.0.0.1:{port}", *spec.gunicorn_args(),
            app]


@contextmanager
def bff(workdir: Path, port: int, issuer: str, upstream: Process, redis_url: str,
        secret_key: str, spec: ServerSpec, variant: str | None = None) -> Iterator[Process]:
    """The BFF under gunicorn; with ``variant``, one of bench/variants.py instead. It trusts
    127.0.0.1 as an edge, for the forward-auth rows."""
    env = {
        "BFF_CONFIG": str(bff_config(workdir, port, issuer, upstream)),
        "BFF_REDIS_URL": redis_url,
        "BFF_SECRET_KEYS": secret_key,
        "BFF_TRUSTED_PROXIES": "127.0.0.1/32",
        "BENCH_VARIANT": variant or "",
    }
    app = "bench.variants:create_variant()" if variant else "bff.app:create_app()"
    name = f"bff-{spec.text.replace('/', '-')}{'-' + variant if variant else ''}"
    with spawn(name, gunicorn_command(app, port, spec), port, workdir, env) as process:
        yield process


@contextmanager
def edge(workdir: Path, bff_process: Process, upstream: Process) -> Iterator[Process]:
    """nginx in forward-auth mode, as deploy/edge/nginx.conf ships it (a worker per core): it
    asks the BFF's /bff/authz and moves the bytes from the upstream itself. With the upstream
    as ``bff_process``, every authz subrequest is a 200 from nginx: the mode's ceiling."""
    port = free_port()
    directory = workdir / f"edge-{port}"
    directory.mkdir()
    conf = directory / "nginx.conf"
    conf.write_text((ROOT / "deploy" / "edge" / "nginx.conf").read_text()
                    .replace("@PORT@", str(port)).replace("@BFF@", f"127.0.0.1:{bff_process.port}")
                    .replace("@UPSTREAM@", f"127.0.0.1:{upstream.port}")
                    .replace("@DIR@", str(directory)))
    with spawn("edge", ["nginx", "-c", str(conf), "-p", str(directory)], port, workdir,
               ready_path=None) as process:
        yield process


@contextmanager
def bare_proxy(workdir: Path, port: int, upstream: Process, spec: ServerSpec
               ) -> Iterator[Process]:
    env = {"BENCH_UPSTREAM": f"http://127.0.0.1:{upstream.port}/orders"}
    with spawn(f"bare-{spec.text.replace('/', '-')}",
               gunicorn_command("bench.bareproxy:create_app()", port, spec), port, workdir,
               env) as process:
        yield process


PEER_DIR = BENCH / "peer"


def peer_dependencies_ready() -> bool:
    return (PEER_DIR / "node_modules" / "express-openid-connect").is_dir()


def install_peer_dependencies() -> None:
    """``npm ci`` from the committed lock file: exact versions, nothing resolved anew."""
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR,
                   check=True)


@contextmanager
def peer(workdir: Path, port: int, issuer: str, upstream: Process, workers: int
         ) -> Iterator[Process]:
    env = {
        "PORT": str(port),
        "BASE_URL": f"http://localhost:{port}",
        "ISSUER_BASE_URL": issuer,
        "CLIENT_ID": "bench-peer",
        "CLIENT_SECRET": CLIENT_SECRET,
        "SECRET": os.urandom(32).hex(),
        "UPSTREAM": f"http://127.0.0.1:{upstream.port}",
        "WORKERS": str(workers),
        "NODE_ENV": "production",
    }
    with spawn("peer", ["node", str(PEER_DIR / "server.js")], port, workdir, env,
               ready_path="/healthz") as process:
        yield process


@contextmanager
def workspace() -> Iterator[Path]:
    with ExitStack() as stack:
        yield Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bff-bench-")))
