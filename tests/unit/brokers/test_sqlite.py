"""SQLite broker specifics: URLs, files, locking, and several processes on one file."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.brokers import _sqlite_queries as queries
from celeriac.brokers.registry import broker_from_url
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.exceptions import BrokerError, ImproperlyConfigured, OperationalError
from celeriac.protocol import Message

QUEUE = "work"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _msg(text: str, **properties: Any) -> Message:
    return Message(text.encode(), {"id": text}, properties)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "broker.sqlite3"


@pytest.fixture
def broker(db_path: Path) -> Iterator[SQLiteBroker]:
    broker = SQLiteBroker.from_url(_url(db_path))
    broker.open()
    yield broker
    broker.close()


# -- URLs and options ------------------------------------------------------------------


def test_relative_and_absolute_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteBroker.from_url("sqlite:///data/q.sqlite3")
    assert relative.path == str(tmp_path / "data" / "q.sqlite3")
    assert relative.url == "sqlite:///data/q.sqlite3"
    assert SQLiteBroker.from_url("sqlite:////srv/q.sqlite3").path == "/srv/q.sqlite3"


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://host/file.db"]
)
def test_urls_other_processes_could_not_share_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="sqlite"):
        SQLiteBroker.from_url(url)


def test_transport_options(db_path: Path) -> None:
    broker = SQLiteBroker.from_url(
        _url(db_path),
        transport_options={"visibility_timeout": 12, "polling_interval": 0.5, "other": 1},
    )
    assert (broker.visibility_timeout, broker.polling_interval) == (12.0, 0.5)
    assert SQLiteBroker.from_url(_url(db_path)).visibility_timeout == 3600.0
    with pytest.raises(ImproperlyConfigured, match="visibility_timeout"):
        SQLiteBroker.from_url(_url(db_path), transport_options={"visibility_timeout": "soon"})


def test_registry_builds_it(db_path: Path) -> None:
    broker = broker_from_url(_url(db_path), transport_options={"visibility_timeout": 5})
    assert isinstance(broker, SQLiteBroker)
    assert broker.visibility_timeout == 5.0


# -- the file ---------------------------------------------------------------------------


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "broker.sqlite3"
    broker = SQLiteBroker.from_url(_url(path))
    with pytest.raises(BrokerError) as info:
        broker.open()
    message = str(info.value)
    assert str(path) in message
    assert "does not exist" in message
    assert "\n" not in message
    assert isinstance(info.value.__cause__, sqlite3.Error)


_OPEN_AS_UNPRIVILEGED = """
import os, sys
from celeriac.brokers.sqlite import SQLiteBroker  # imported while Python can read itself
from celeriac.exceptions import BrokerError
broker = SQLiteBroker.from_url(sys.argv[1])
os.setgid(65534); os.setuid(65534)  # nobody: root would ignore the directory's mode
try:
    broker.open()
except BrokerError as exc:
    print(exc)
"""


def test_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    url = _url(locked / "broker.sqlite3")
    if os.geteuid() != 0:
        with pytest.raises(BrokerError, match="permission denied"):
            SQLiteBroker.from_url(url).open()
        return
    tmp_path.chmod(0o755)  # let nobody reach the directory, not write in it
    import tempfile

    for parent in tmp_path.parents:  # pytest's own temporary directories, not above them
        if parent == Path(tempfile.gettempdir()):
            break
        if parent.stat().st_mode & 0o001 == 0:
            parent.chmod(parent.stat().st_mode | 0o001)
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AS_UNPRIVILEGED, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "permission denied" in done.stdout, done.stderr
    assert str(locked) in done.stdout and done.stdout.count("\n") == 1


def test_file_is_wal_with_schema_version(broker: SQLiteBroker, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] & 0xFF == 1
        columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    assert {"queue", "priority", "not_before", "leased_until", "lease_token", "body"} <= columns
    conn.close()


def test_lease_query_uses_its_index(broker: SQLiteBroker, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        plan = conn.execute("EXPLAIN QUERY PLAN " + queries._READY, ("q", 0.0, 1)).fetchall()
    finally:
        conn.close()
    details = " ".join(row[-1] for row in plan)
    assert "messages_ready" in details
    assert "TEMP B-TREE" not in details


def test_priority_is_clamped_to_0_255(broker: SQLiteBroker) -> None:
    broker.publish(_msg("low", priority=-3), routing_key=QUEUE)
    broker.publish(_msg("high", priority=1000), routing_key=QUEUE)
    broker.publish(_msg("mid", priority=255), routing_key=QUEUE)
    got = [broker.get([QUEUE], timeout=0) for _ in range(3)]
    assert [d.message.headers["id"] for d in got if d] == ["high", "mid", "low"]


def test_unreadable_headers_are_handed_on_not_raised(broker: SQLiteBroker, db_path: Path) -> None:
    broker.publish(_msg("x"), routing_key=QUEUE)
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE messages SET headers = '{not json'")
    conn.close()
    delivery = broker.get([QUEUE], timeout=0)
    assert delivery is not None
    assert delivery.message.headers == {"x-undecodable": "{not json"}


# -- locking ----------------------------------------------------------------------------


def test_locked_database_raises_operational_error(db_path: Path) -> None:
    broker = SQLiteBroker(path=db_path, busy_timeout=0.05)
    broker.open()
    broker.publish(_msg("ready"), routing_key=QUEUE)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked") as info:
            broker.publish(_msg("blocked"), routing_key=QUEUE)
        assert str(db_path) in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(OperationalError, match="locked"):
            asyncio.run(broker.afetch([QUEUE], limit=1, timeout=0))
        with pytest.raises(OperationalError, match="locked"):
            asyncio.run(broker.apublish(_msg("blocked"), routing_key=QUEUE))
    finally:
        holder.rollback()
        holder.close()
        broker.close()


def test_afetch_retries_while_another_writer_holds_the_lock(
    broker: SQLiteBroker, db_path: Path
) -> None:
    broker.publish(_msg("ready"), routing_key=QUEUE)
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.1, holder.rollback)
    release.start()
    try:
        batch = asyncio.run(broker.afetch([QUEUE], limit=5, timeout=5))
    finally:
        release.join()
        holder.close()
    assert [d.message.headers["id"] for d in batch] == ["ready"]


# -- several processes -------------------------------------------------------------------


def _produce(url: str, producer: int, count: int) -> None:
    broker = SQLiteBroker.from_url(url)
    broker.open()
    try:
        for n in range(count):
            broker.publish(_msg(f"{producer}-{n}"), routing_key=QUEUE)
    finally:
        broker.close()


def _consume(url: str, ready: Any, done: Any, results: Any) -> None:
    broker = SQLiteBroker.from_url(url, transport_options={"polling_interval": 0.005})
    broker.open()
    seen = []
    ready.wait()
    try:
        while True:
            finished = done.is_set()  # read before get: a None after it means drained
            delivery = broker.get([QUEUE], timeout=0.05)
            if delivery is not None:
                seen.append(delivery.message.headers["id"])
                broker.ack(delivery)
            elif finished:
                break
    finally:
        broker.close()
        results.put(seen)


def _open_at_once(url: str, barrier: Any) -> None:
    barrier.wait()
    _produce(url, os.getpid(), 1)


def test_processes_creating_the_file_at_once(db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    openers = [ctx.Process(target=_open_at_once, args=(_url(db_path), barrier)) for _ in range(4)]
    for process in openers:
        process.start()
    for process in openers:
        process.join(30)
    assert [process.exitcode for process in openers] == [0] * 4
    broker = SQLiteBroker.from_url(_url(db_path))
    try:
        assert broker.size(QUEUE) == 4
    finally:
        broker.close()


def test_processes_consume_each_message_exactly_once(db_path: Path) -> None:
    url = _url(db_path)
    SQLiteBroker.from_url(url).open()  # the file exists before the race starts
    ctx = multiprocessing.get_context("spawn")
    ready, done, results = ctx.Barrier(3), ctx.Event(), ctx.Queue()
    consumers = [ctx.Process(target=_consume, args=(url, ready, done, results)) for _ in range(2)]
    producers = [ctx.Process(target=_produce, args=(url, p, 300)) for p in range(2)]
    for process in consumers:
        process.start()
    ready.wait(30)  # both consumers are up before the first message is published
    for process in producers:
        process.start()
    for process in producers:
        process.join(30)
        assert process.exitcode == 0
    done.set()
    consumed = [results.get(timeout=30) for _ in consumers]
    for process in consumers:
        process.join(30)
        assert process.exitcode == 0
    everything = [item for seen in consumed for item in seen]
    assert sorted(everything) == sorted(f"{p}-{n}" for p in range(2) for n in range(300))


def test_waiting_get_wakes_on_publish_from_another_process(
    broker: SQLiteBroker, db_path: Path
) -> None:
    waiting, received = threading.Event(), []

    def consume() -> None:
        assert broker.get([QUEUE], timeout=0) is None
        waiting.set()
        received.append(broker.get([QUEUE], timeout=30))

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert waiting.wait(30)
    producer = multiprocessing.get_context("spawn").Process(
        target=_produce, args=(_url(db_path), 7, 1)
    )
    producer.start()
    producer.join(30)
    consumer.join(30)
    assert producer.exitcode == 0
    assert [d.message.headers["id"] for d in received if d] == ["7-0"]
