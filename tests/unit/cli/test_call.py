from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from celeriac.app.base import Celery
from celeriac.brokers.registry import broker_from_url
from celeriac.protocol import Message
from tests.unit.cli.conftest import Run


def _only_message(app: Celery, queue: str = "celery") -> Message:
    messages = app.broker.peek(queue)
    assert len(messages) == 1
    return messages[0]


def test_call_publishes_the_task_and_prints_its_id(run: Run, app: Celery) -> None:
    result = run("call", "cliproj.add", "-a", "[2, 3]", "-k", '{"z": 1}')

    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert result.stdout == f"{task_id}\n"
    message = _only_message(app)
    assert message.headers["task"] == "cliproj.add"
    assert message.headers["id"] == task_id
    assert message.content_type == "application/json"
    args, kwargs, _embed = json.loads(message.body)
    assert (args, kwargs) == ([2, 3], {"z": 1})


def test_call_without_arguments_sends_empty_args_and_kwargs(run: Run, app: Celery) -> None:
    result = run("call", "some.task.not.registered.here")

    assert result.exit_code == 0, result.output
    args, kwargs, _embed = json.loads(_only_message(app).body)
    assert (args, kwargs) == ([], {})


def test_queue_option_routes_the_message(run: Run, app: Celery) -> None:
    result = run("call", "cliproj.add", "-a", "[1, 1]", "--queue", "hipri")

    assert result.exit_code == 0, result.output
    assert _only_message(app, "hipri").headers["id"] == result.stdout.strip()
    assert app.broker.size("celery") == 0


def test_eta_and_expires_are_written_to_the_headers(run: Run, app: Celery) -> None:
    result = run(
        "call",
        "cliproj.add",
        "--eta",
        "2020-01-02T03:04:05Z",
        "--expires",
        "2030-01-01T00:00:00+00:00",
    )

    assert result.exit_code == 0, result.output
    headers = _only_message(app).headers
    assert dt.datetime.fromisoformat(headers["eta"]) == dt.datetime(
        2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc
    )
    assert dt.datetime.fromisoformat(headers["expires"]) == dt.datetime(
        2030, 1, 1, tzinfo=dt.timezone.utc
    )


def test_expires_in_seconds_is_relative_to_now(run: Run, app: Celery) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    result = run("call", "cliproj.add", "--expires", "60")

    assert result.exit_code == 0, result.output
    expires = dt.datetime.fromisoformat(_only_message(app).headers["expires"])
    assert before + dt.timedelta(seconds=59) < expires < before + dt.timedelta(seconds=120)


def test_countdown_holds_the_message_back(run: Run, app: Celery) -> None:
    result = run("call", "cliproj.add", "--countdown", "3600")

    assert result.exit_code == 0, result.output
    assert app.broker.size("celery") == 1
    assert app.broker.peek("celery") == []  # not deliverable for an hour


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--args", "[1, 2", "is not valid JSON"),
        ("-a", '{"x": 1}', "is not a JSON array"),
        ("--kwargs", "{x: 1}", "is not valid JSON"),
        ("-k", "[1]", "is not a JSON object"),
        ("--eta", "tomorrow", "is not an ISO-8601 date and time"),
        ("--expires", "soon", "is not an ISO-8601 date and time"),
        ("--expires", "inf", "is not a number of seconds"),
    ],
)
def test_bad_values_are_usage_errors_and_publish_nothing(
    run: Run, app: Celery, option: str, value: str, complaint: str
) -> None:
    result = run("call", "cliproj.add", option, value)

    assert result.exit_code == 2
    assert complaint in result.stderr
    assert result.stdout == ""
    assert app.broker.size("celery") == 0


def test_unserializable_call_is_one_error_line(run: Run, app: Celery) -> None:
    result = run("call", "cliproj.add", "-a", "[1, 2]", "--serializer", "nosuch")

    assert result.exit_code == 1
    assert result.stderr == "Error: EncodeError: unknown serializer 'nosuch'\n"
    assert app.broker.size("celery") == 0


def test_broker_option_overrides_the_app_setting(
    run: Run, app: Celery, broker_url: str, tmp_path: Path
) -> None:
    other_url = f"sqlite:///{tmp_path}/other.sqlite3"

    result = run("-b", other_url, "call", "cliproj.mul", "-a", "[2, 2]")

    assert result.exit_code == 0, result.output
    assert app.broker_url == other_url
    assert _only_message(app).headers["id"] == result.stdout.strip()
    configured = broker_from_url(broker_url, transport_options={})
    try:
        assert configured.size("celery") == 0
    finally:
        configured.close()
