"""Poison messages through the real broker: dead-lettered, logged once, never fatal.

Each hypothesis example publishes a few poison messages (see _poison.py) interleaved
with good ones to one running worker (prefork, so bodies are decoded in pool children),
then waits until every good task succeeded, every poison message is in the dead-letter
queue (or, for ``ANY``, accounted for) and the worker is still alive.
``CELERIAC_RELIABILITY_FUZZ_EXAMPLES`` sets the number of examples (default 25).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from celeriac import states
from celeriac.brokers._redis_wire import UNREADABLE
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.exceptions import CeleriacError
from celeriac.protocol import Message
from tests.e2e.wait import wait_until
from tests.reliability import _poison
from tests.reliability._env import RelEnv, report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLES = int(os.environ.get("CELERIAC_RELIABILITY_FUZZ_EXAMPLES", "25"))
PATIENCE = 20.0
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking would wait out PATIENCE each step
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _original_body(message: Message) -> bytes:
    """The body as published; Redis keeps an unreadable envelope whole, as the body."""
    if message.content_type != UNREADABLE:
        return message.body
    try:
        return base64.b64decode(json.loads(message.body)["body"])
    except (ValueError, KeyError, TypeError):
        return message.body


class Fuzzer:
    """Publishes examples to ``env``'s worker and checks what became of each message."""

    def __init__(self, env: RelEnv, marker_dir: Path) -> None:
        self.env = env
        self.marker_dir = marker_dir
        self.app = env.module().app
        self.worker = env.worker("-P", "prefork", "-c", "2")
        self.figures: Counter[str] = Counter()
        self.patience = PATIENCE

    def run(self, poisons: list[_poison.Poison], goods: int) -> None:
        broker, backend = self.app.broker, self.app.backend
        broker.purge(DEAD_LETTER_QUEUE)
        good_ids: list[str] = []
        sent: list[_poison.Poison] = []
        for n, poison in enumerate(poisons):
            try:
                broker.publish(poison.message, routing_key=self.env.queue)
            except CeleriacError:
                self.figures["refused_at_publish"] += 1
                continue
            sent.append(poison)
            if n < goods:
                message = _poison.good(uuid.uuid4().hex)
                broker.publish(message, routing_key=self.env.queue)
                good_ids.append(message.headers["id"])
        dead = Counter(p.message.body for p in sent if p.expect == _poison.DEAD)
        maybe = [p for p in sent if p.expect == _poison.ANY]

        def dead_lettered() -> Counter[bytes]:
            return Counter(_original_body(m) for m in broker.peek(DEAD_LETTER_QUEUE, 1000))

        def settled() -> bool:
            kept = dead_lettered()
            if any(kept[body] < count for body, count in dead.items()):
                return False
            ran = set(self.env.executions())  # ignore_result=True stores nothing
            for poison in maybe:
                task_id = poison.task_id
                done = task_id is not None and (
                    task_id in ran
                    or backend.get_task_meta(task_id)["status"] in states.READY_STATES
                )
                if not done and kept[poison.message.body] == 0:
                    return False
            return all(backend.get_task_meta(i)["status"] == states.SUCCESS for i in good_ids)

        assert wait_until(settled, self.patience, step=0.1), self._explain(sent, dead_lettered())
        assert self.worker.process is not None and self.worker.process.poll() is None
        for poison in sent:
            if poison.expect == _poison.DEAD and poison.task_id is not None:
                self._check_logged_once(poison.what, poison.task_id)
        assert not list(self.marker_dir.glob("unpickled-*")), "refused content was decoded"
        self.figures["poison"] += len(sent)
        self.figures["dead_lettered"] += sum(dead.values())
        self.figures["good"] += len(good_ids)
        for poison in sent:
            self.figures[f"kind: {poison.what}"] += 1

    def _check_logged_once(self, what: str, task_id: str) -> None:
        def logged() -> list[str]:
            return [line for line in self.worker.lines if task_id in line and "ERROR" in line]

        # The log line may reach us after the broker shows the dead letter.
        wait_until(lambda: bool(logged()), 5)
        assert len(logged()) == 1, f"{what}: logged {logged()}"

    def _explain(self, sent: list[_poison.Poison], kept: Counter[bytes]) -> str:
        backend = self.app.backend
        unsettled = [
            (p.what, p.expect, p.message.headers, p.message.body[:80])
            for p in sent
            if kept[_original_body(p.message)] == 0
            and not (
                p.expect == _poison.ANY
                and p.task_id is not None
                and (
                    p.task_id in self.env.executions()
                    or backend.get_task_meta(p.task_id)["status"] in states.READY_STATES
                )
            )
        ]
        return f"not settled: {unsettled}\n{self.worker.output[-4000:]}"


def _fuzz(env: RelEnv, tmp_path: Path, name: str) -> None:
    fuzzer = Fuzzer(env, tmp_path)

    @FUZZ
    @given(
        st.lists(_poison.poisons(str(tmp_path)), min_size=1, max_size=6),
        st.integers(1, 4),
    )
    def example(poisons: list[_poison.Poison], goods: int) -> None:
        fuzzer.run(poisons, goods)

    example()
    report(f"poison_{name}", {"examples": EXAMPLES, **dict(sorted(fuzzer.figures.items()))})


def test_sqlite(make_env: Any, tmp_path: Path) -> None:
    _fuzz(make_env(f"sqlite:///{tmp_path}/broker.sqlite3"), tmp_path, "sqlite")


@pytest.mark.redis
def test_redis(make_env: Any, tmp_path: Path, redis_url: str) -> None:
    _fuzz(make_env(redis_url), tmp_path, "redis")


envelopes = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(["[]", "null", "1", '"s"', "{}", '{"properties": 5}']),
    st.fixed_dictionaries(
        {
            "body": st.one_of(st.text(max_size=20), st.integers(), st.none()),
            "content-type": st.one_of(st.text(max_size=20), st.integers(), st.none()),
            "content-encoding": st.one_of(st.text(max_size=10), st.integers()),
            "headers": st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2)),
            "properties": st.fixed_dictionaries(
                {
                    "body_encoding": st.sampled_from(["base64", "bogus", 5]),
                    "delivery_info": st.one_of(
                        st.none(), st.integers(), st.lists(st.integers(), max_size=2)
                    ),
                    "delivery_tag": st.one_of(st.text(max_size=5), st.integers()),
                    "priority": st.one_of(st.integers(), st.text(max_size=3)),
                }
            ),
        }
    ).map(json.dumps),
)


@pytest.mark.redis
def test_redis_raw_envelopes(make_env: Any, tmp_path: Path, redis_url: str) -> None:
    import redis

    env = make_env(redis_url)
    fuzzer = Fuzzer(env, tmp_path)
    client = redis.Redis.from_url(redis_url)
    total = Counter[str]()

    @FUZZ
    @given(st.lists(envelopes, min_size=1, max_size=6))
    def example(raw: list[str | bytes]) -> None:
        broker, backend = fuzzer.app.broker, fuzzer.app.backend
        broker.purge(DEAD_LETTER_QUEUE)
        good_ids = []
        for entry in raw:
            client.lpush(env.queue, entry)
            message = _poison.good(uuid.uuid4().hex)
            broker.publish(message, routing_key=env.queue)
            good_ids.append(message.headers["id"])

        def settled() -> bool:
            if broker.size(DEAD_LETTER_QUEUE) < len(raw):
                return False
            return all(backend.get_task_meta(i)["status"] == states.SUCCESS for i in good_ids)

        assert wait_until(settled, PATIENCE, step=0.1), fuzzer.worker.output[-4000:]
        assert broker.size(DEAD_LETTER_QUEUE) == len(raw)
        assert fuzzer.worker.process is not None and fuzzer.worker.process.poll() is None
        total["envelopes"] += len(raw)
        total["good"] += len(good_ids)

    try:
        example()
    finally:
        client.close()
    report("poison_redis_raw_envelopes", {"examples": EXAMPLES, **dict(total)})


def test_wrong_stamps_header(make_env: Any, tmp_path: Path) -> None:
    env = make_env(f"sqlite:///{tmp_path}/broker.sqlite3")
    fuzzer = Fuzzer(env, tmp_path)
    fuzzer.patience = 5.0
    message = _poison.good(uuid.uuid4().hex)
    poison = _poison.Poison(
        Message(message.body, {**message.headers, "stamps": 1.5}, message.properties),
        _poison.ANY,
        "stamps",
    )
    fuzzer.run([poison], 1)
