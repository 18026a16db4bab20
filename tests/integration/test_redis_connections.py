"""The standalone forms of ``BFF_REDIS_URL`` against real servers: TLS (``rediss://`` with the CA
from the query, certificate verified) and a unix socket, each with its database number."""

from __future__ import annotations

import datetime
import ipaddress
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bff.errors import SessionStoreUnavailable
from bff.store import connect, store_errors
from tests.support import RedisServer, free_port, running, start_redis


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _authority(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


@pytest.fixture(scope="module")
def pki() -> Pki:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    directory = Path(tempfile.mkdtemp(prefix="bff-test-pki-"))
    ca_key, ca_cert = _authority(directory, "test-ca")
    _authority(directory, "other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("redis.test"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return Pki(ca=directory / "test-ca.pem", cert=directory / "server.pem",
               key=directory / "server.key", other_ca=directory / "other-ca.pem")


@pytest.fixture(scope="module")
def tls_redis(pki: Pki) -> Iterator[tuple[RedisServer, int]]:
    port = free_port()
    with running(start_redis(["--tls-port", str(port), "--tls-cert-file", str(pki.cert),
                              "--tls-key-file", str(pki.key), "--tls-ca-cert-file", str(pki.ca),
                              "--tls-auth-clients", "no"])) as server:
        yield server, port  # type: ignore[misc]


def test_rediss_url_verifies_the_server_with_the_ca_from_the_query(
        tls_redis: tuple[RedisServer, int], pki: Pki) -> None:
    server, port = tls_redis
    client = connect(f"rediss://127.0.0.1:{port}/5?ssl_ca_certs={pki.ca}&ssl_cert_reqs=required")
    client.set("bff:tls-probe", b"over tls")
    plain = redis.Redis(port=server.port, db=5)
    assert plain.get("bff:tls-probe") == b"over tls"
    client.close()


def test_rediss_url_refuses_a_server_its_ca_did_not_sign(
        tls_redis: tuple[RedisServer, int], pki: Pki) -> None:
    _, port = tls_redis
    client = connect(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={pki.other_ca}")
    with pytest.raises(SessionStoreUnavailable), store_errors():
        client.ping()
    client.close()


def test_unix_socket_url_with_database() -> None:
    socket_path = Path(tempfile.mkdtemp(prefix="bff-test-sock-")) / "redis.sock"
    with running(start_redis(["--unixsocket", str(socket_path), "--unixsocketperm", "700"])
                 ) as server:
        client = connect(f"unix://{socket_path}?db=2")
        client.set("bff:unix-probe", b"over a socket")
        assert redis.Redis(port=server.port, db=2).get("bff:unix-probe") == b"over a socket"
        client.close()
