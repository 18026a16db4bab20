"""The stacks the browser suite drives, and the server-side view of their tokens.

Two deployments: ``bff demo`` over plain http (as a developer runs it), and an https one
(gunicorn with a self-signed certificate made here, the way production serves the BFF) whose
access tokens live a few seconds, so a test can wait one out.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bff.demo import render_config
from bff.sansio.keyspace import session_handle
from bff.sealing import Sealer
from bff.sessions import Session, SessionStore
from bff.settings import build_settings, generate_secret_key
from tests.support import (
    ROOT,
    BffProcess,
    RedisServer,
    free_port_run,
    start_bff,
    start_demo,
    wait_for_port,
)

DEMO_CLIENT_ID = "bff-demo"
DEMO_CLIENT_SECRET = "demo-bff-secret-change-me"


@dataclass(frozen=True)
class Certificate:
    cert_path: Path
    key_path: Path


def make_self_signed_certificate(directory: Path, extra_names: Iterable[str] = ()
                                 ) -> Certificate:
    """A localhost certificate that is its own CA, so `requests` can trust it by path; it also
    covers ``extra_names`` (host names a test maps to 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), *(x509.DNSName(name) for name in extra_names),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "localhost.pem", directory / "localhost.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return Certificate(cert_path=cert_path, key_path=key_path)


@dataclass
class TokenLedger:
    """Every token the BFF held during a run, read from its own store, for leak searches."""

    tokens: set[str] = field(default_factory=set)

    def record(self, session: Session) -> None:
        t = session.tokens
        self.tokens.update(v for v in (t.access_token, t.refresh_token) if v)
        self.tokens.update(held.access_token for held in t.resources.values())


@dataclass
class Stack:
    """One deployment: the BFF (serving the SPA), its provider, the demo API, their Redis."""

    bff_url: str
    issuer: str
    api_url: str
    redis: RedisServer
    secret_key: str = field(repr=False)
    processes: list[BffProcess] = field(repr=False)
    ledger: TokenLedger = field(default_factory=TokenLedger, repr=False)
    ca_bundle: Path | None = None
    """The self-signed certificate of an https stack, for clients that verify it."""

    @property
    def cookie_name(self) -> str:
        return "__Host-bff" if self.bff_url.startswith("https://") else "bff"

    def store(self) -> SessionStore:
        """The BFF's own session store, opened with its keys: the server side of the truth."""
        settings = build_settings({
            "base_url": self.bff_url, "issuer": self.issuer, "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET, "secret_keys": self.secret_key,
            "redis_url": self.redis.url,
        })
        return SessionStore(self.redis.client(), Sealer(settings.secret_keys), settings)

    def session_for(self, cookie_value: str) -> Session:
        """The session a browser's cookie names, with its tokens, recorded in the ledger."""
        session = self.store().load_handle(session_handle(cookie_value))
        if session is None:
            raise AssertionError("the browser's cookie names no session on the server")
        self.ledger.record(session)
        return session

    def has_session(self, cookie_value: str) -> bool:
        return self.store().load_handle(session_handle(cookie_value)) is not None

    def logs(self) -> str:
        return "\n".join(process.log() for process in self.processes)

    def redis_dump(self) -> bytes:
        """What a stolen backup holds: Redis's own RDB file, written now, uncompressed."""
        client: redis.Redis = self.redis.client()
        client.save()
        return (self.redis.directory / "dump.rdb").read_bytes()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_http_stack(redis_server: RedisServer) -> Stack:
    """`bff demo` exactly as a developer runs it, with a key the tests know."""
    key = generate_secret_key()
    demo = start_demo(redis_server, env={"BFF_SECRET_KEYS": key})
    return Stack(bff_url=demo.bff_url, issuer=demo.issuer, api_url=demo.api_url,
                 redis=redis_server, secret_key=key, processes=[demo.process])


def start_https_stack(redis_server: RedisServer, access_token_lifetime: int) -> Stack:
    """The BFF under gunicorn with TLS, its provider and the demo API as separate processes."""
    port = free_port_run(3)
    workdir = Path(tempfile.mkdtemp(prefix="bff-e2e-https-"))
    cert = make_self_signed_certificate(workdir)
    bff_url, issuer = f"https://localhost:{port}", f"http://localhost:{port + 1}"
    auth_config = workdir / "authserver.toml"
    render_config(ROOT / "config" / "authserver.toml", auth_config, port)
    auth_config.write_text(auth_config.read_text().replace(
        f"http://localhost:{port}/", f"{bff_url}/"))
    bff_config = render_config(ROOT / "config" / "bff.toml", workdir / "bff.toml", port)
    key = generate_secret_key()
    env = {
        "BFF_REDIS_URL": redis_server.url,
        "BFF_AUTHSERVER_ISSUER": issuer,
        "BFF_AUTHSERVER_KEY_DIR": str(workdir / "keys"),
        "BFF_AUTHSERVER_ACCESS_TOKEN_LIFETIME": str(access_token_lifetime),
        # The provider's back-channel logout reaches the BFF over https: trust our certificate.
        "REQUESTS_CA_BUNDLE": str(cert.cert_path),
        "BFF_CONFIG": str(bff_config),
        "BFF_BASE_URL": bff_url,
        "BFF_ISSUER": issuer,
        "BFF_SECRET_KEYS": key,
        "BFF_FRONTEND_DIR": str(ROOT / "frontend"),
        "BFF_REFRESH_SKEW": "0",
        "PYTHONUNBUFFERED": "1",
    }
    processes: list[BffProcess] = []
    try:
        processes.append(start_bff(["authserver", "--config", str(auth_config),
                                    "--port", str(port + 1)], port + 1, env=env))
        processes.append(start_bff(["demo-api", "--issuer", issuer, "--port", str(port + 2),
                                    "--audience", f"http://localhost:{port + 2}"],
                                   port + 2, env=env))
        processes.append(start_gunicorn_tls(port, cert, env))
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return Stack(bff_url=bff_url, issuer=issuer, api_url=f"http://localhost:{port + 2}",
                 redis=redis_server, secret_key=key, processes=processes,
                 ca_bundle=cert.cert_path)


def start_gunicorn_tls(port: int, cert: Certificate, env: Mapping[str, str],
                       extra_args: Iterable[str] = ()) -> BffProcess:
    """`gunicorn "bff.app:create_app()"` as production runs it, over TLS, with an access log."""
    log_path = Path(tempfile.mkstemp(prefix="bff-e2e-gunicorn-", suffix=".log")[1])
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
             "--certfile", str(cert.cert_path), "--keyfile", str(cert.key_path),
             "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-",
             *extra_args, "bff.app:create_app()"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    process = BffProcess(port=port, process=proc, log_path=log_path)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"https://localhost:{port}/healthz", timeout=2,
                                verify=str(cert.cert_path)).status_code == 200:
                    return process
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"gunicorn did not become healthy:\n{process.log()}")
            time.sleep(0.1)
    except BaseException:
        process.stop()
        raise
