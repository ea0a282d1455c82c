"""TLS to Redis: ``rediss://`` with ``ssl_cert_reqs``, against a TLS-only redis-server.

The test makes a self-signed certificate (for 127.0.0.1), starts its own
``redis-server`` with only a TLS port, and runs a worker whose broker and result
backend are ``rediss://...?ssl_cert_reqs=required&ssl_ca_certs=<cert>``. A client
that does not trust the certificate is refused. Skipped when redis-server was built
without TLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.wait import wait_until
from tests.reliability._env import report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(120)]


def _certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization as pem
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "redis.key", directory / "redis.pem"
    key_path.write_bytes(
        key.private_bytes(
            pem.Encoding.PEM, pem.PrivateFormat.TraditionalOpenSSL, pem.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(pem.Encoding.PEM))
    return key_path, cert_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("redis")
    pytest.importorskip("cryptography")
    key, cert = _certificate(tmp_path)
    port = _free_port()
    tls = ("--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    trust = ("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no")
    server = subprocess.Popen(
        [binary, "--port", "0", "--bind", "127.0.0.1", "--save", "", *tls, *trust],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
        if not wait_until(lambda: _answers(url) or server.poll() is not None, 20):
            pytest.fail("the TLS redis-server did not start")
        if server.poll() is not None:
            pytest.skip("redis-server was built without TLS")
        yield port, cert
    finally:
        server.terminate()
        server.wait(10)


def test_worker_over_tls(make_env: Any, tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
    env = make_env(url, backend=url)
    worker = env.worker("-P", "threads", "-c", "2")
    module = env.module()
    results = [module.work.delay(n) for n in range(20)]
    assert [r.get(timeout=30) for r in results] == list(range(20))
    assert worker.process is not None and worker.process.poll() is None
    assert not _answers(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required")  # untrusted
    assert not _answers(f"redis://127.0.0.1:{port}/0")  # plain text
    report("tls_redis", {"tasks": len(results), "untrusted_client_refused": True})
