"""TLS to Redis: ``rediss://`` with ``ssl_cert_reqs``, against a TLS-only redis-server.

The test makes a self-signed certificate (for 127.0.0.1), starts its own
``redis-server`` with only a TLS port, and runs a worker whose broker and result
backend are ``rediss://...?ssl_cert_reqs=required&ssl_ca_certs=<cert>``. A client
that does not trust the certificate is refused. Skipped when redis-server was built
without TLS.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.wait import wait_until
from tests.reliability._certs import certificate, free_port
from tests.reliability._env import report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(120)]


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
    key, cert = certificate(tmp_path, "redis")
    port = free_port()
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


def test_broker_use_ssl_turns_tls_on_for_a_redis_url(tls_redis: tuple[int, Path]) -> None:
    from celeriac import Celery
    from celeriac.exceptions import OperationalError

    port, cert = tls_redis
    queue = f"tls.{uuid.uuid4().hex[:8]}"
    app = Celery("tls", broker=f"redis://127.0.0.1:{port}/0")
    app.conf.broker_use_ssl = {"ssl_cert_reqs": "CERT_REQUIRED", "ssl_ca_certs": str(cert)}
    try:
        app.send_task("tls.nothing", queue=queue)
        assert app.broker.size(queue) == 1
    finally:
        app.close()
    untrusted = Celery("tls", broker=f"redis://127.0.0.1:{port}/0")
    untrusted.conf.broker_use_ssl = True  # the system's CAs do not know the test's
    try:
        with pytest.raises(OperationalError, match="certificate verify failed"):
            untrusted.send_task("tls.nothing", queue=queue)
    finally:
        untrusted.close()
