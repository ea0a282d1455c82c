"""What a task sees of its message: the request built for it, and the job a child gets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
from typing import Any

from celeriac.app.task import Context
from celeriac.protocol import Message, TaskMessage, build_task_message, parse_task_message
from celeriac.worker.execute import build_request
from celeriac.worker.payload import TaskJob

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.timezone.utc)
DELIVERY = {"exchange": "", "routing_key": "celery", "priority": 3, "redelivered": True}


def _rich_message() -> TaskMessage:
    """A message with every field set, and no two fields alike."""
    raw = build_task_message(
        name="proj.add",
        task_id="id-1",
        args=(1, 2),
        kwargs={"z": 3},
        eta=NOW + dt.timedelta(minutes=1),
        expires=NOW + dt.timedelta(hours=1),
        retries=2,
        group_id="group-1",
        group_index=4,
        root_id="root-1",
        parent_id="parent-1",
        shadow="shadow-name",
        time_limit=30,
        soft_time_limit=20,
        callbacks=[{"task": "proj.cb", "args": [], "kwargs": {}, "options": {}}],
        errbacks=[{"task": "proj.eb", "args": [], "kwargs": {}, "options": {}}],
        chain=[{"task": "proj.next", "args": [], "kwargs": {}, "options": {}}],
        chord={"task": "proj.body", "args": [], "kwargs": {}, "options": {}},
        origin="gen1@client",
        ignore_result=True,
        reply_to="reply-queue",
        headers={"custom": "value"},
        argsrepr="(1, 2)",
        kwargsrepr="{'z': 3}",
        stamps={"stamp": "on"},
        now=NOW,
    )
    return parse_task_message(raw)


def test_the_request_has_each_field_of_the_message() -> None:
    message = _rich_message()
    args, kwargs, embed = message.decode_body()
    request = build_request(message, args, kwargs, embed, hostname="w@h", delivery_info=DELIVERY)
    expected = Context(
        id="id-1",
        task="proj.add",
        args=[1, 2],
        kwargs={"z": 3},
        retries=2,
        eta=(NOW + dt.timedelta(minutes=1)).isoformat(),
        expires=(NOW + dt.timedelta(hours=1)).isoformat(),
        is_eager=False,
        called_directly=False,
        hostname="w@h",
        delivery_info=DELIVERY,
        headers=message.headers,
        properties=message.message.properties,
        root_id="root-1",
        parent_id="parent-1",
        group="group-1",
        group_index=4,
        chord=embed["chord"],
        chain=embed["chain"],
        callbacks=embed["callbacks"],
        errbacks=embed["errbacks"],
        correlation_id="id-1",
        reply_to="reply-queue",
        timelimit=(30.0, 20.0),
        origin="gen1@client",
        shadow="shadow-name",
        ignore_result=True,
        argsrepr="(1, 2)",
        kwargsrepr="{'z': 3}",
        stamps={"stamp": "on"},
    )
    for field in dataclasses.fields(Context):  # field by field, so a mismatch is named
        assert getattr(request, field.name) == getattr(expected, field.name), field.name
    assert request.headers is message.headers and request.delivery_info is DELIVERY
    assert request.headers is not None and request.headers["custom"] == "value"


def _roundtrip(job: TaskJob) -> TaskJob:
    copy: TaskJob = pickle.loads(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    return copy


def test_a_job_reaches_a_child_as_the_worker_parsed_it() -> None:
    message = _rich_message()
    copy = _roundtrip(TaskJob(message, DELIVERY))
    assert copy == (message, DELIVERY)  # every field, the raw message included
    assert copy.message.headers is copy.message.message.headers
    assert copy.message.decode_body() == message.decode_body()


def test_a_protocol_1_job_reaches_a_child_and_its_body_is_read_there() -> None:
    body: dict[str, Any] = {"task": "proj.old", "id": "id-v1", "args": [5], "kwargs": {}}
    body |= {"retries": 1, "taskset": "set-1", "eta": None}
    raw = Message(json.dumps(body).encode(), {}, {"correlation_id": "id-v1"})
    message = parse_task_message(raw)
    copy = _roundtrip(TaskJob(message, DELIVERY)).message
    assert (copy.name, copy.id, copy.retries, copy.group) == ("proj.old", "id-v1", 1, "set-1")
    assert copy.decode_body(frozenset({"application/json"})) == (
        [5],
        {},
        {
            "callbacks": None,
            "errbacks": None,
            "chain": None,
            "chord": None,
        },
    )
