from __future__ import annotations

import pytest

from celeriac import states
from celeriac.app.base import Celery
from celeriac.backends.registry import backend_from_url
from tests.unit.cli.conftest import Run

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "tasks.py", line 3, in add\n'
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'\n"
)


@pytest.mark.parametrize(
    ("value", "printed"),
    [(4, "4\n"), ("text", "text\n"), ({"a": [1, 2]}, "{'a': [1, 2]}\n"), (None, "\n")],
)
def test_prints_the_return_value(run: Run, app: Celery, value: object, printed: str) -> None:
    app.backend.store_result("t-1", value, states.SUCCESS)

    result = run("result", "t-1")

    assert result.exit_code == 0, result.output
    assert result.stdout == printed


def test_failed_task_prints_its_exception_and_exits_non_zero(run: Run, app: Celery) -> None:
    exc = TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    app.backend.mark_as_failure("t-2", exc, traceback=TRACEBACK)

    result = run("result", "t-2")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: TypeError: unsupported operand type(s) for +: 'int' and 'str'\n"
    )


def test_revoked_task_prints_why(run: Run, app: Celery) -> None:
    app.backend.mark_as_revoked("t-3", reason="terminated")

    result = run("result", "t-3")

    assert result.exit_code == 1
    assert result.stderr == "Error: TaskRevokedError: terminated\n"


def test_traceback_option_prints_the_traceback(run: Run, app: Celery) -> None:
    app.backend.mark_as_failure("t-4", TypeError("nope"), traceback=TRACEBACK)

    result = run("result", "t-4", "--traceback")

    assert result.exit_code == 0, result.output
    assert result.stdout == TRACEBACK + "\n"


def test_traceback_of_a_successful_task_is_empty(run: Run, app: Celery) -> None:
    app.backend.store_result("t-5", 4, states.SUCCESS)

    result = run("result", "t-5", "--traceback")

    assert (result.exit_code, result.stdout) == (0, "\n")


def test_unknown_task_prints_pending_without_waiting(run: Run, app: Celery) -> None:
    result = run("result", "never-sent")

    assert (result.exit_code, result.stdout) == (0, "PENDING\n")


def test_unfinished_task_prints_its_state(run: Run, app: Celery) -> None:
    app.backend.mark_as_started("t-6", pid=1, hostname="w1@example")

    result = run("result", "t-6")

    assert (result.exit_code, result.stdout) == (0, "STARTED\n")


def test_wait_returns_the_value_of_a_ready_task(run: Run, app: Celery) -> None:
    app.backend.store_result("t-7", 8, states.SUCCESS)

    result = run("result", "t-7", "--wait")

    assert (result.exit_code, result.stdout) == (0, "8\n")


def test_wait_still_reports_a_failure(run: Run, app: Celery) -> None:
    app.backend.mark_as_failure("t-8", KeyError("k"))

    result = run("result", "t-8", "--wait", "--timeout", "5")

    assert result.exit_code == 1
    assert result.stderr == "Error: KeyError: 'k'\n"


def test_timeout_on_a_pending_task_is_an_error(run: Run, app: Celery) -> None:
    result = run("result", "never-sent", "--timeout", "0")

    assert result.exit_code == 1
    assert result.stderr == "Error: task never-sent is still PENDING after 0 seconds\n"


def test_task_option_reads_through_that_task(run: Run, app: Celery) -> None:
    app.backend.store_result("t-9", 6, states.SUCCESS)

    result = run("result", "t-9", "-t", "cliproj.mul")

    assert (result.exit_code, result.stdout) == (0, "6\n")


def test_unknown_task_name_is_one_error_line(run: Run, app: Celery) -> None:
    result = run("result", "t-10", "--task", "cliproj.nope")

    assert result.exit_code == 1
    assert result.stderr == "Error: NotRegistered: 'cliproj.nope'\n"


def test_no_result_backend_is_one_clear_error_line(
    run: Run, app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CELERIAC_RESULT_BACKEND")

    result = run("result", "t-11")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no result backend is configured: ")
    assert "result_backend" in result.stderr
    assert result.stderr.count("\n") == 1


def test_result_backend_option_overrides_the_app_setting(
    run: Run, app: Celery, monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    monkeypatch.delenv("CELERIAC_RESULT_BACKEND")
    writer = backend_from_url(backend_url)
    writer.open()
    try:
        writer.store_result("t-12", 3, states.SUCCESS)
    finally:
        writer.close()

    result = run("--result-backend", backend_url, "result", "t-12")

    assert (result.exit_code, result.stdout) == (0, "3\n")
