"""TLS to RabbitMQ: ``amqps://`` and ``broker_use_ssl``, against a TLS-only node.

The test starts a second RabbitMQ node of its own (its own node name, distribution
port, data and log directories, and a configuration with ``listeners.tcp = none`` and
one TLS listener) with a certificate it makes, so the machine's RabbitMQ on 5672 is
left alone. A worker and a client talk to it over ``amqps://`` with the certificate
verified against the test's CA (results over ``rpc://``, so the result path uses TLS
too); a plain-text client and a client trusting another CA fail with a one-line error.
The node is stopped with ``rabbitmqctl -n <node> stop`` at the end.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from celeriac.brokers.amqp import AmqpBroker
from celeriac.exceptions import OperationalError
from celeriac.testing.processes import WorkerProcess
from tests.e2e.wait import wait_until
from tests.reliability._certs import certificate, free_port
from tests.reliability._env import MODULE, report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.amqp, pytest.mark.timeout(240)]


@dataclass(frozen=True)
class TlsNode:
    """The test's TLS-only RabbitMQ node."""

    port: int
    ca: Path
    other_ca: Path

    @property
    def url(self) -> str:
        return f"amqps://guest:guest@127.0.0.1:{self.port}//"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: the TLS test must run)")
    pytest.skip(message)


def _handshakes(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as sock,
            context.wrap_socket(sock, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


def _config(directory: Path, port: int, key: Path, cert: Path) -> Path:
    path = directory / "rabbitmq.conf"
    path.write_text(
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{port}\n"
        f"ssl_options.cacertfile = {cert}\n"
        f"ssl_options.certfile = {cert}\n"
        f"ssl_options.keyfile = {key}\n"
        "ssl_options.verify = verify_none\n"
        "ssl_options.fail_if_no_peer_cert = false\n"
    )
    return path


def _give_to_rabbitmq(directory: Path) -> None:
    """As root, the packaged scripts run the node as the ``rabbitmq`` user (whose Erlang
    cookie rabbitmqctl shares): that user must own the node's directory."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("rabbitmq")
    except KeyError:
        return
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)


@pytest.fixture(scope="module")
def tls_node() -> Iterator[TlsNode]:
    binary, ctl = shutil.which("rabbitmq-server"), shutil.which("rabbitmqctl")
    if binary is None or ctl is None:
        _unavailable("rabbitmq-server is not installed")
    assert binary is not None and ctl is not None
    pytest.importorskip("cryptography")
    # Not under pytest's tmp_path: that is private to this user, and the node may run
    # as the rabbitmq user.
    directory = Path(tempfile.mkdtemp(prefix="celeriac-tls-rabbit-"))
    directory.chmod(0o755)
    key, cert = certificate(directory, "server")
    _, other_ca = certificate(directory, "other")
    port, dist_port = free_port(), free_port()
    node = f"celeriac-tls-{uuid.uuid4().hex[:8]}@localhost"
    (directory / "enabled_plugins").write_text("[].\n")
    for sub in ("mnesia", "log"):
        (directory / sub).mkdir()
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_CONFIG_FILE": str(_config(directory, port, key, cert)),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(directory / "node.pid"),
    }
    _give_to_rabbitmq(directory)
    output = (directory / "server.out").open("w")
    server = subprocess.Popen(
        [binary], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        up = wait_until(lambda: _handshakes(port, cert) or server.poll() is not None, 120)
        if not up or server.poll() is not None:
            log = (directory / "server.out").read_text()[-2000:]
            pytest.fail(f"the TLS-only RabbitMQ node did not start:\n{log}")
        yield TlsNode(port, cert, other_ca)
    finally:
        subprocess.run([ctl, "-n", node, "stop"], capture_output=True, timeout=120, check=False)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        output.close()
        shutil.rmtree(directory, ignore_errors=True)


def _open_error(url: str, **options: Any) -> str:
    broker = AmqpBroker.from_url(url, transport_options={"connect_timeout": 10, **options})
    with pytest.raises(OperationalError) as caught:
        broker.open()
    return str(caught.value)


def test_worker_and_client_over_amqps(make_env: Any, tls_node: TlsNode) -> None:
    use_ssl = {"ca_certs": str(tls_node.ca), "cert_reqs": "CERT_REQUIRED"}
    env = make_env(tls_node.url, backend="rpc://")
    worker = env.worker("-P", "threads", "-c", "2", REL_BROKER_SSL=json.dumps(use_ssl))
    module = env.module()
    module.app.conf.broker_use_ssl = use_ssl
    results = [module.work.delay(n) for n in range(20)]
    assert [r.get(timeout=60) for r in results] == list(range(20))
    assert worker.process is not None and worker.process.poll() is None

    # amqp:// with broker_use_ssl=True also speaks TLS (verifying with the system's CAs,
    # which do not know the test's CA).
    plain_url = f"amqp://guest:guest@127.0.0.1:{tls_node.port}//"
    message = _open_error(plain_url, ssl=True)
    assert message.endswith("TLS certificate verification failed: self-signed certificate")
    report("tls_amqp", {"tasks": len(results), "plain_and_untrusted_clients_refused": True})


def test_plain_text_client_is_told_the_port_speaks_tls(tls_node: TlsNode) -> None:
    message = _open_error(f"amqp://guest:guest@127.0.0.1:{tls_node.port}//")
    assert "\n" not in message
    assert message == (
        f"cannot connect to the AMQP broker at 127.0.0.1:{tls_node.port}: the server dropped "
        "the connection at once; if the port speaks TLS, use amqps:// or broker_use_ssl"
    )


def test_certificate_from_another_ca_is_refused(make_env: Any, tls_node: TlsNode) -> None:
    wrong = {"ca_certs": str(tls_node.other_ca), "cert_reqs": "CERT_REQUIRED"}
    message = _open_error(tls_node.url, ssl=wrong)
    assert "\n" not in message
    expected = (
        f"cannot connect to the AMQP broker at 127.0.0.1:{tls_node.port}: "
        "TLS certificate verification failed: self-signed certificate"
    )
    assert message == expected

    # A worker says so once per attempt, in its own line (aiormq's copy is dropped).
    env = make_env(tls_node.url, backend="rpc://")
    worker = WorkerProcess(
        MODULE,
        ["-Q", env.queue],
        cwd=env.directory,
        env={**env.env, "REL_BROKER_SSL": json.dumps(wrong)},
    )
    worker.ready_line = "Trying again"
    env.workers.append(worker)
    worker.start(timeout=60)
    failures = [line for line in worker.lines if "ERROR" in line]
    assert len(failures) == 1, worker.output
    assert (
        f"Cannot connect to amqps://guest:**@127.0.0.1:{tls_node.port}//: {expected}."
        in (failures[0])
    )
