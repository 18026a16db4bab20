"""Shared helpers for the issue-8 suites: Redis topologies (Cluster, Sentinel, a restartable
server), a stack of separate processes (authorization servers, demo API, BFF instances) and small
upstreams. (A module of helpers, not tests; the test modules import from it.)

Everything is a real process on a free port and is always stopped.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from prometheus_client.parser import text_string_to_metric_families
from redis.cluster import ClusterNode, RedisCluster

from bff.demo import render_config, render_ports
from bff.processes import redis_server_command
from bff.sansio.keyspace import session_handle, session_record_key
from bff.settings import generate_secret_key
from tests.support import (
    ROOT,
    BffProcess,
    DemoPorts,
    RedisServer,
    await_ready,
    free_port,
    free_port_run,
    spawn_process,
    start_redis,
    wait_for_port,
)

CLIENT_ID = "bff-demo"
CLIENT_SECRET = "demo-bff-secret-change-me"
SCOPES = "openid profile email offline_access orders:read orders:write"
REDIS_BINARY = shutil.which("redis-server") or "redis-server"
# A replica's first sync starts at once instead of after Redis's default 5 s diskless delay.
FAST_REPLICATION = ["--repl-diskless-sync-delay", "0"]


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except (redis.RedisError, requests.RequestException, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(interval)


# --- Redis topologies ------------------------------------------------------------------------

def start_redis_at(port: int, directory: Path, extra_args: list[str] | None = None
                   ) -> RedisServer:
    """A redis-server on a given port and directory: restarting one keeps its data (AOF)."""
    proc = subprocess.Popen(
        redis_server_command(REDIS_BINARY, port, directory,
                             ["--appendonly", "yes", "--appendfsync", "always",
                              *(extra_args or [])]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc)
    server = RedisServer(port=port, process=proc, directory=directory)
    wait_until(lambda: server.client().ping(), 15, "redis answering PING (loading its data)")
    return server


@dataclass
class Cluster:
    """A Redis Cluster of real servers: masters and, optionally, one replica each."""

    servers: list[RedisServer]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    def client(self) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", s.port) for s in self.servers])

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_cluster(masters: int = 3, replicas: int = 1) -> Cluster:
    servers: list[RedisServer] = []
    try:
        for _ in range(masters * (1 + replicas)):
            servers.append(start_redis(["--cluster-enabled", "yes", "--cluster-config-file",
                                        "nodes.conf", "--cluster-node-timeout", "2000",
                                        "--cluster-port", str(free_port()),
                                        *FAST_REPLICATION]))
        subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{server.port}" for server in servers),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )

        def settled() -> bool:
            for server in servers:
                if server.client().execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
                replication = server.client().info("replication")
                if replication["role"] == "slave" and \
                        replication.get("master_link_status") != "up":
                    return False
            return True

        wait_until(settled, 30, "the cluster settling")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return Cluster(servers)


SENTINEL_MASTER = "bffmaster"
SENTINEL_PASSWORD = "sentinel-and-redis-secret"


@dataclass
class SentinelGroup:
    """A master, a replica and one sentinel (quorum 1), all with a password."""

    master: RedisServer
    replica: RedisServer
    sentinel: subprocess.Popen
    sentinel_port: int
    directory: Path
    db: int = 3

    @property
    def url(self) -> str:
        return (f"redis+sentinel://:{SENTINEL_PASSWORD}@127.0.0.1:{self.sentinel_port}"
                f"/{SENTINEL_MASTER}/{self.db}")

    def sentinel_client(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port, password=SENTINEL_PASSWORD)

    def master_address(self) -> tuple[str, int]:
        host, port = self.sentinel_client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER)
        return host.decode(), int(port)

    def current_master(self, db: int | None = None) -> redis.Redis:
        host, port = self.master_address()
        return redis.Redis(host=host, port=port, password=SENTINEL_PASSWORD,
                           db=self.db if db is None else db)

    def stop(self) -> None:
        for server in (self.master, self.replica):
            server.stop()
        if self.sentinel.poll() is None:
            self.sentinel.terminate()
            self.sentinel.wait(timeout=10)


def start_sentinel_group() -> SentinelGroup:
    auth = ["--requirepass", SENTINEL_PASSWORD, "--masterauth", SENTINEL_PASSWORD,
            *FAST_REPLICATION]
    master = start_redis(auth)
    replica = start_redis([*auth, "--replicaof", "127.0.0.1", str(master.port)])
    directory = Path(tempfile.mkdtemp(prefix="bff-test-sentinel-"))
    port = free_port()
    config = directory / "sentinel.conf"
    config.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", f"dir {directory}",
        f"requirepass {SENTINEL_PASSWORD}",
        f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master.port} 1",
        f"sentinel auth-pass {SENTINEL_MASTER} {SENTINEL_PASSWORD}",
        f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
        f"sentinel failover-timeout {SENTINEL_MASTER} 5000",
        f"sentinel parallel-syncs {SENTINEL_MASTER} 1", "",
    ]))
    sentinel = subprocess.Popen([REDIS_BINARY, str(config), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    group = SentinelGroup(master=master, replica=replica, sentinel=sentinel, sentinel_port=port,
                          directory=directory)
    try:
        wait_for_port(port, proc=sentinel)
        replica_client = redis.Redis(port=replica.port, password=SENTINEL_PASSWORD)
        wait_until(lambda: replica_client.info("replication").get("master_link_status") == "up",
                   20, "the replica syncing")
        wait_until(lambda: group.sentinel_client().execute_command(
            "SENTINEL", "REPLICAS", SENTINEL_MASTER), 20, "the sentinel finding the replica")
    except BaseException:
        group.stop()
        raise
    return group


# --- the stack: authorization servers, demo API, BFF instances -------------------------------

class RoundRobin(http.server.ThreadingHTTPServer):
    """A load balancer without stickiness: each request goes to the next backend in turn."""

    daemon_threads = True

    def __init__(self, port: int, backends: list[str]) -> None:
        self.backends = backends
        self.turn = 0
        self.turn_lock = threading.Lock()
        self.served: list[str] = []
        super().__init__(("127.0.0.1", port), _Forwarder)

    def next_backend(self) -> str:
        with self.turn_lock:
            backend = self.backends[self.turn % len(self.backends)]
            self.turn += 1
            self.served.append(backend)
            return backend


class _Forwarder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RoundRobin

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "content-length", "keep-alive")}
        upstream = requests.request(self.command, self.server.next_backend() + self.path,
                                    headers=headers, data=body, allow_redirects=False, timeout=30)
        self.send_response(upstream.status_code)
        for name, value in upstream.raw.headers.items():
            if name.lower() not in ("connection", "content-length", "transfer-encoding",
                                    "keep-alive", "content-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: Any) -> None:
        return


def launch(args: list[str], port: int, env: dict[str, str] | None = None) -> BffProcess:
    """Start `python -m bff.cli ARGS` without waiting: start many, then :func:`await_ready`."""
    return spawn_process([sys.executable, "-m", "bff.cli", *args], port, env)


def stop_all(processes: list[BffProcess]) -> None:
    """SIGTERM to all first, then wait for each: a graceful stop, in parallel."""
    for process in processes:
        if process.process.poll() is None:
            process.process.send_signal(signal.SIGTERM)
    for process in processes:
        process.stop()


@dataclass
class Stack(DemoPorts):
    """``bff demo`` taken apart: each piece its own process, so a test can stop or add any."""

    workdir: Path
    secret_key: str
    bff_redis_url: str
    bff_config: Path
    bff_env: dict[str, str]
    auth_config: Path
    auth_env: dict[str, str]
    authservers: list[BffProcess] = field(default_factory=list)
    api: BffProcess | None = None
    bffs: list[BffProcess] = field(default_factory=list)
    balancer: RoundRobin | None = None

    @property
    def bff(self) -> BffProcess:
        return self.bffs[0]

    def launch_authserver(self, port: int | None = None) -> BffProcess:
        port = port or self.port + 1
        process = launch(["authserver", "--config", str(self.auth_config), "--port", str(port)],
                         port, env=self.auth_env)
        self.authservers.append(process)
        return process

    def start_authserver(self, port: int | None = None) -> BffProcess:
        return await_ready(self.launch_authserver(port))

    def launch_bff(self, port: int | None = None, env: dict[str, str] | None = None,
                   config: Path | None = None) -> BffProcess:
        port = port or free_port()
        process = launch(["serve", "--config", str(config or self.bff_config), "--port",
                          str(port)], port, env={**self.bff_env, **(env or {})})
        self.bffs.append(process)
        return process

    def start_bff(self, port: int | None = None, env: dict[str, str] | None = None,
                  config: Path | None = None) -> BffProcess:
        return await_ready(self.launch_bff(port, env, config))

    def stop(self) -> None:
        stop_all([*self.bffs, *([self.api] if self.api else []), *self.authservers])
        if self.balancer is not None:
            self.balancer.shutdown()
            self.balancer.server_close()


def bff_toml(port: int, extra_routes: str = "", extra_settings: str = "") -> str:
    return f"""
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = "{SCOPES}"
{extra_settings}

[[routes]]
prefix = "/api/orders"
upstream = "http://127.0.0.1:{port + 2}/orders"
methods = ["GET", "POST"]
token = "user"
scopes = ["orders:read"]
{extra_routes}
"""


def start_stack(bff_redis_url: str, auth_redis_url: str, *, bff_count: int = 1,
                authserver_count: int = 1, bff_env: dict[str, str] | None = None,
                auth_env: dict[str, str] | None = None, extra_routes: str = "",
                extra_settings: str = "") -> Stack:
    """Authorization server(s) on P+1 (several behind a round-robin balancer there), the demo
    API on P+2, and BFF instances: the first on P (the public origin), the others anywhere."""
    port = free_port_run(4)
    workdir = Path(tempfile.mkdtemp(prefix="bff-test-stack-"))
    auth_config = render_config(ROOT / "config" / "authserver.toml",
                                workdir / "authserver.toml", port)
    bff_config = workdir / "bff.toml"
    bff_config.write_text(render_ports(bff_toml(port, extra_routes, extra_settings), port))
    secret_key = generate_secret_key()
    stack = Stack(
        port=port, workdir=workdir, secret_key=secret_key, bff_redis_url=bff_redis_url,
        bff_config=bff_config,
        bff_env={"BFF_REDIS_URL": bff_redis_url, "BFF_SECRET_KEYS": secret_key,
                 "BFF_BASE_URL": f"http://localhost:{port}",
                 "BFF_ISSUER": f"http://localhost:{port + 1}", "PYTHONUNBUFFERED": "1",
                 **(bff_env or {})},
        auth_config=auth_config,
        auth_env={"BFF_AUTHSERVER_REDIS_URL": auth_redis_url,
                  "BFF_AUTHSERVER_ISSUER": f"http://localhost:{port + 1}",
                  "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys"), **(auth_env or {})},
    )
    try:
        starting = [stack.launch_bff(port), *(stack.launch_bff() for _ in range(bff_count - 1))]
        stack.api = launch(["demo-api", "--issuer", stack.issuer, "--port", str(port + 2)],
                           port + 2)
        starting.append(stack.api)
        if authserver_count == 1:
            starting.append(stack.launch_authserver())
        else:
            # The first creates the signing key the others then load from the shared key dir.
            backends = [stack.start_authserver(free_port())]
            backends += [stack.launch_authserver(free_port()) for _ in range(authserver_count - 1)]
            starting += backends[1:]
            stack.balancer = RoundRobin(port + 1, [p.url for p in backends])
            threading.Thread(target=stack.balancer.serve_forever, daemon=True).start()
        for process in starting:
            await_ready(process)
    except BaseException:
        stack.stop()
        raise
    return stack


@contextmanager
def stack_running(*args: Any, **kwargs: Any) -> Iterator[Stack]:
    stack = start_stack(*args, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()


def stop_process(process: BffProcess) -> None:
    """Stop a `bff ...` process now (SIGKILL): an outage, not a shutdown."""
    if process.process.poll() is None:
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(timeout=10)


# --- sessions, metrics, upstreams ------------------------------------------------------------

def session_cookie(browser: requests.Session) -> str:
    value = browser.cookies.get("bff")
    assert value, "the browser holds no session cookie"
    return value


def session_record(client: redis.Redis | RedisCluster, browser: requests.Session | str
                   ) -> dict[str, Any] | None:
    """The session's record as stored, for a browser or a cookie value kept from before."""
    cookie = browser if isinstance(browser, str) else session_cookie(browser)
    raw = client.get(session_record_key(session_handle(cookie)))
    return None if raw is None else json.loads(raw)


def make_refresh_due(client: redis.Redis | RedisCluster, session_id: str,
                     expires_in: float = -1.0) -> None:
    """Move the session's access-token expiry (plain metadata beside the sealed tokens) so the
    next request refreshes: at once, without waiting for a real token to age. TTL and version
    are kept. The benchmark's refresh storm uses it too."""
    key = session_record_key(session_handle(session_id))
    raw = client.get(key)
    if raw is None:
        raise LookupError("the session is gone")
    record = json.loads(raw)
    lifetime = record["at_exp"] - record["at_iat"]
    record["at_exp"] = time.time() + expires_in
    record["at_iat"] = record["at_exp"] - lifetime
    client.set(key, json.dumps(record, separators=(",", ":")), keepttl=True)


def metric(base_url: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` on one instance's /metrics."""
    text = requests.get(f"{base_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class Upstream(http.server.ThreadingHTTPServer):
    """An API for the proxy to call: echoes what it received, or answers after a delay."""

    daemon_threads = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received = threading.Event()
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_GET(self) -> None:
        self.server.received.set()
        if self.server.delay:
            time.sleep(self.server.delay)
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def check_config(env: dict[str, str], config: Path) -> subprocess.CompletedProcess[str]:
    """``bff check-config`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bff.cli", "check-config", "--config", str(config)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
