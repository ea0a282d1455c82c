"""The bench's Redis: a database of its own, the marks, and counting a worker's commands."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import redis

# Where the mark task records its runs (tasks/benchdefs.py writes it).
MARKS_KEY = "bench:marks"
# The key the test suite's conftest claims databases with: a test run never takes ours.
CLAIM_KEY = "celeriac-tests:db:{}"


@contextlib.contextmanager
def claimed_database(server: str, wanted: int | None) -> Iterator[int]:
    """Claim a database number (1, 2, ... unless ``wanted``) for the whole run."""
    client = redis.Redis.from_url(f"{server}/0")
    token = f"bench-{os.getpid()}-{os.urandom(4).hex()}"
    candidates = [wanted] if wanted is not None else list(range(1, 16))
    for db in candidates:
        if client.set(CLAIM_KEY.format(db), token, nx=True, ex=3 * 3600):
            break
    else:
        raise SystemExit(f"Redis databases {candidates} are all claimed by test runs")
    try:
        yield db
    finally:
        if client.get(CLAIM_KEY.format(db)) == token.encode():
            client.delete(CLAIM_KEY.format(db))
        client.close()


class Marks:
    """Reads the ``mark`` task's records (``<label> <unix time>``) as they arrive."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def wait(self, label: str, timeout: float = 900.0) -> float:
        """Block until the mark ``label`` arrives; return when the task ran (unix time)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            # Short waits: redis-py 8's default socket timeout (5 s) must not cut one off.
            item: Any = self.client.blpop([MARKS_KEY], timeout=min(2, max(1, int(remaining))))
            if item is None:
                continue
            got, _, at = item[1].decode().partition(" ")
            if got == label:
                return float(at)
        raise TimeoutError(f"mark {label!r} not seen after {timeout}s")

    def flush(self) -> None:
        self.client.flushdb()

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.client.info("server")
        return info

    def server_pid(self) -> int:
        """The Redis server's process id (its CPU is read from /proc when it is local)."""
        return int(self.info()["process_id"])

    def queue_length(self, key: str = "celery") -> int:
        return int(self.client.llen(key))

    def first_entry_bytes(self, key: str = "celery") -> int:
        """Size of one message as it sits in the queue list (the envelope)."""
        entry: Any = self.client.lindex(key, 0)
        return len(entry) if entry is not None else 0


_MONITOR_LINE = re.compile(rb'^\+([\d.]+) \[(\d+) ([^\]]+)\] "([^"]*)"')


class CommandCounter:
    """Counts the commands sent on one database while running, through ``MONITOR``.

    ``INFO commandstats`` is server-wide (other test runs share the server), and Redis
    7.0's ``CLIENT LIST`` has no command counters, so the monitor stream is filtered by
    database number instead. Commands that scripts run are counted apart (``lua``).
    """

    def __init__(self, url: str, db: int, *, record: bool = False) -> None:
        parts = urlsplit(url)
        self.record = record
        self.lines: list[tuple[float, str, str]] = []  # (unix time, client, command line)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = str(db).encode()
        self.counts: collections.Counter[str] = collections.Counter()
        self.script_counts: collections.Counter[str] = collections.Counter()
        self.clients: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = socket.create_connection(self.address)
        self._sock.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()

    def _read(self) -> None:
        assert self._sock is not None
        selector = selectors.DefaultSelector()
        selector.register(self._sock, selectors.EVENT_READ)
        buffer = b""
        while not self._stop.is_set():
            if not selector.select(0.1):
                continue
            data = self._sock.recv(1 << 16)
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                match = _MONITOR_LINE.match(line)
                if match is None or match.group(2) != self.db:
                    continue
                command = match.group(4).decode().lower()
                client = match.group(3).decode()
                if self.record:
                    text = line[match.end(3) + 2 :].decode(errors="replace")
                    self.lines.append((float(match.group(1)), client, text))
                if client == "lua":
                    self.script_counts[command] += 1
                else:
                    self.counts[command] += 1
                    self.clients.add(client)
        selector.close()
