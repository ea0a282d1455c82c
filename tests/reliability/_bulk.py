"""Publishing many task messages at once, and a worker's resident memory from /proc.

``delay()`` publishes one message per round trip (about 3,000 a second on Redis); the
memory tests need 100,000, so they build the same protocol-v2 messages and write them
in batches: on Redis through a pipeline of the broker's own publish scripts, on SQLite
with one ``executemany`` per batch into the broker's table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from celeriac.brokers import _sqlite_queries as sqlite_queries
from celeriac.brokers.redis import _SCRIPTS, RedisBroker
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.protocol import Message, build_task_message

BATCH = 2000


def messages(name: str, count: int, *, countdown: float | None = None) -> list[Message]:
    """``count`` messages for task ``name`` (argument: the task's number), each its own id."""
    now = dt.datetime.now(dt.timezone.utc)
    eta = None if countdown is None else now + dt.timedelta(seconds=countdown)
    return [
        build_task_message(name=name, task_id=str(uuid.uuid4()), args=(n,), eta=eta, now=now)
        for n in range(count)
    ]


def publish_many(broker: Any, queue: str, batch: list[Message], eta: float | None) -> int:
    """Publish ``batch`` to ``queue`` (held until ``eta``); the messages' encoded bytes."""
    if isinstance(broker, RedisBroker):
        _redis(broker, queue, batch, eta)
    elif isinstance(broker, SQLiteBroker):
        _sqlite(broker, queue, batch, eta)
    else:
        raise TypeError(f"no bulk publishing for {broker!r}")
    return sum(
        len(m.body) + len(json.dumps(m.headers)) + len(json.dumps(m.properties)) for m in batch
    )


def _redis(broker: RedisBroker, queue: str, batch: list[Message], eta: float | None) -> None:
    import redis

    client = redis.Redis.from_url(broker.url)
    scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
    try:
        for start in range(0, len(batch), BATCH):
            with client.pipeline(transaction=False) as pipe:
                for message in batch[start : start + BATCH]:
                    payload = broker.plan.envelope(message, "", queue)
                    for name, keys, args in broker.plan.publish([queue], message, payload, eta):
                        scripts[name](keys=keys, args=args, client=pipe)
                pipe.execute()
    finally:
        client.close()


def _sqlite(broker: SQLiteBroker, queue: str, batch: list[Message], eta: float | None) -> None:
    broker.size(queue)  # the broker creates its table on first use
    connection = sqlite3.connect(broker.path, timeout=30)
    try:
        now = time.time()
        for start in range(0, len(batch), BATCH):
            rows = [
                sqlite_queries.message_row(message, "", queue, eta, now)
                for message in batch[start : start + BATCH]
            ]
            with connection:
                connection.executemany(sqlite_queries.INSERT, rows)
    finally:
        connection.close()


# -- memory ------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (pool children, the fork server)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def tree_rss_kib(root: int) -> int:
    """The resident memory (VmRSS) of ``root`` and its descendants, in KiB."""
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class RssSampler(threading.Thread):
    """Samples a process tree's resident memory until stopped; keeps the peak."""

    def __init__(self, root: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.every = every
        self.peak_kib = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.root))
            self.samples += 1
            self._halt.wait(self.every)

    def stop(self) -> int:
        """Stop sampling; the peak in KiB."""
        self._halt.set()
        self.join()
        return self.peak_kib
