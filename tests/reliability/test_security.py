"""Security at the worker: only accepted content is decoded, only signed messages run.

A worker whose app signs with a shared HMAC key (``security_hmac_key``,
``app.setup_security()``) runs signed tasks and dead-letters, without running them,
messages that are unsigned (plain JSON), tampered with, signed with another key, or
pickled; a pickle payload that would create a file if unpickled never does.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.protocol import Message, build_task_message
from celeriac.security.serialization import HmacSigner, SecureSerializer
from tests.e2e.wait import wait_until
from tests.reliability._env import report
from tests.reliability._poison import Pickled

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(120)]

KEY = "reliability-shared-key"


def _signed(key: str, args: tuple[Any, ...]) -> Message:
    plain = build_task_message(name="rel.work", task_id=str(uuid.uuid4()), args=args)
    signer = HmacSigner(key.encode())
    body = SecureSerializer(signer, signer).encode([list(args), {}, {}])
    return Message(body, plain.headers, plain.properties, "application/data", "utf-8")


def _tampered(message: Message) -> Message:
    raw = bytearray(base64.b64decode(message.body))
    raw[-3] ^= 0x01  # inside the JSON body, after the signature
    body = base64.b64encode(bytes(raw))
    return Message(body, message.headers, message.properties, "application/data", "utf-8")


def test_only_signed_messages_run(make_env: Any, tmp_path: Path) -> None:
    env = make_env(f"sqlite:///{tmp_path}/broker.sqlite3")
    worker = env.worker("-P", "prefork", "-c", "2", REL_HMAC=KEY)
    module = env.module()
    broker = module.app.broker
    good = _signed(KEY, ("signed",))
    unsigned = build_task_message(name="rel.work", task_id=str(uuid.uuid4()), args=("plain",))
    pickled = build_task_message(
        name="rel.work",
        task_id=str(uuid.uuid4()),
        args=(Pickled(str(tmp_path / "unpickled")),),
        serializer="pickle",
    )
    bad = [unsigned, _tampered(_signed(KEY, ("x",))), _signed("another key", ("y",)), pickled]
    for message in [*bad, good]:
        broker.publish(message, routing_key=env.queue)
    good_id = good.headers["id"]
    assert wait_until(lambda: broker.size(DEAD_LETTER_QUEUE) == len(bad), 30), worker.output
    assert wait_until(lambda: good_id in env.executions(), 30), worker.output
    assert module.app.AsyncResult(good_id).get(timeout=30) == "signed"
    ran = set(env.executions())
    assert not any(message.headers["id"] in ran for message in bad)
    assert not (tmp_path / "unpickled").exists()
    reasons = [m.headers["x-dead-letter-reason"] for m in broker.peek(DEAD_LETTER_QUEUE)]
    assert sum("not accepted" in reason for reason in reasons) == 2  # plain JSON, pickle
    assert sum("signature" in reason for reason in reasons) == 2, reasons
    report("security_signed_messages", {"refused": len(bad), "dead_letter_reasons": reasons})


def test_control_allowlist_refuses_shutdown(make_env: Any, tmp_path: Path) -> None:
    env = make_env(f"sqlite:///{tmp_path}/broker.sqlite3")
    worker = env.worker("-P", "threads", "-c", "1", REL_ALLOW="ping")
    control = env.module().app.control
    assert wait_until(lambda: bool(control.ping(timeout=1.0)), 30)
    control.shutdown()
    # Commands are served in order: a pong after the shutdown means it was refused.
    assert wait_until(lambda: bool(control.ping(timeout=1.0)), 10)
    assert worker.process is not None and worker.process.poll() is None
