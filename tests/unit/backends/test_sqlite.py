"""SQLite result backend specifics: URLs, files, expiry housekeeping, other processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import states
from celeriac.backends.registry import backend_from_url
from celeriac.backends.sqlite import SQLiteBackend
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.exceptions import BackendError, ImproperlyConfigured
from celeriac.protocol import Message


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "results.sqlite3"


@pytest.fixture
def backend(db_path: Path) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend.from_url(f"sqlite:///{db_path}")
    backend.open()
    yield backend
    backend.close()


def _rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("prefix", ["sqlite", "db+sqlite"])
def test_urls(prefix: str, db_path: Path) -> None:
    backend = backend_from_url(f"{prefix}:///{db_path}", expires=5.0, extended=True)
    assert isinstance(backend, SQLiteBackend)
    assert (backend.path, backend.expires, backend.extended) == (str(db_path), 5.0, True)
    assert backend.url == f"{prefix}:///{db_path}"


@pytest.mark.parametrize("url", ["sqlite://", "db+sqlite:///:memory:", "sqlite:///"])
def test_in_memory_urls_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        SQLiteBackend.from_url(url)


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "results.sqlite3"
    with pytest.raises(BackendError, match="does not exist") as info:
        SQLiteBackend.from_url(f"sqlite:///{path}").open()
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_broker_and_backend_share_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'celeriac.sqlite3'}"
    broker, backend = SQLiteBroker.from_url(url), SQLiteBackend.from_url(url)
    broker.open()
    backend.open()
    try:
        broker.publish(Message(b"task", {"id": "t1"}, {}), routing_key="celery")
        backend.mark_as_done("t1", 42)
        delivery = broker.get(["celery"], timeout=0)
        assert delivery is not None
        broker.ack(delivery)
        assert backend.get_task_meta("t1")["result"] == 42
        conn = sqlite3.connect(tmp_path / "celeriac.sqlite3")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
        assert version == 1 | 1 << 8  # each engine keeps its own byte
    finally:
        backend.close()
        broker.close()


def test_expired_rows_are_hidden_then_cleaned_every_1000_writes(
    backend: SQLiteBackend, db_path: Path
) -> None:
    backend.set("old", b"x", ttl=-1, is_ready=True)  # already expired
    assert backend.get("old") is None
    assert _rows(db_path) == 1
    for n in range(998):
        backend.set(f"k{n}", b"v", ttl=None, is_ready=False)
    assert _rows(db_path) == 999
    backend.set("last", b"v", ttl=None, is_ready=False)  # the 1000th write
    assert _rows(db_path) == 999


def _store(url: str, task_id: str) -> None:
    backend = SQLiteBackend.from_url(url)
    backend.open()
    try:
        backend.mark_as_done(task_id, "from another process")
    finally:
        backend.close()


def test_wait_for_sees_a_result_stored_by_another_process(
    backend: SQLiteBackend, db_path: Path
) -> None:
    backend.mark_as_started("t1")
    writer = multiprocessing.get_context("spawn").Process(
        target=_store, args=(f"sqlite:///{db_path}", "t1")
    )
    writer.start()
    try:
        meta = backend.wait_for("t1", timeout=30)
    finally:
        writer.join(30)
    assert (meta["status"], meta["result"]) == (states.SUCCESS, "from another process")


def test_locked_database_raises_backend_error(db_path: Path) -> None:
    backend = SQLiteBackend(path=db_path, busy_timeout=0.05)
    backend.open()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BackendError, match="locked"):
            backend.mark_as_done("t1", 1)
    finally:
        holder.rollback()
        holder.close()
        backend.close()
