"""celeriac.exceptions: the error tree, with Celery's names and behaviours."""

from __future__ import annotations

import builtins
import datetime as dt
import pickle

import celery.exceptions  # type: ignore[import-untyped]
import pytest

from celeriac import exceptions
from celeriac.exceptions import (
    CeleriacError,
    CeleryError,
    MaxRetriesExceededError,
    NotRegistered,
    Reject,
    Retry,
    TimeoutError,
    WorkerShutdown,
    WorkerTerminate,
)

#: Names only celeriac has (kombu or billiard hold Celery's versions, or none exists).
CELERIAC_ONLY = {
    "BrokerError",
    "CeleriacError",
    "ContentDisallowed",
    "DecodeError",
    "EncodeError",
    "SerializationError",
}


@pytest.mark.parametrize("name", exceptions.__all__)
def test_every_error_derives_from_celeriac_error_except_exit_signals(name: str) -> None:
    cls = getattr(exceptions, name)
    if name in {"WorkerShutdown", "WorkerTerminate"}:
        assert issubclass(cls, SystemExit)
        assert not issubclass(cls, Exception)
    else:
        assert issubclass(cls, CeleriacError)


def test_celery_error_is_an_alias() -> None:
    assert CeleryError is CeleriacError


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("OperationalError", "BrokerError"),
        ("BackendStoreError", "BackendError"),
        ("EncodeError", "SerializationError"),
        ("DecodeError", "SerializationError"),
        ("ContentDisallowed", "SerializationError"),
        ("NotRegistered", "TaskError"),
        ("MaxRetriesExceededError", "TaskError"),
        ("TaskRevokedError", "TaskError"),
        ("TimeLimitExceeded", "TaskError"),
        ("SoftTimeLimitExceeded", "TaskError"),
        ("WorkerLostError", "TaskError"),
        ("ChordError", "TaskError"),
        ("InvalidTaskError", "TaskError"),
        ("Retry", "TaskPredicate"),
        ("Ignore", "TaskPredicate"),
        ("Reject", "TaskPredicate"),
    ],
)
def test_tree(child: str, parent: str) -> None:
    assert issubclass(getattr(exceptions, child), getattr(exceptions, parent))


def test_names_exist_in_celery() -> None:
    missing = {n for n in exceptions.__all__ if not hasattr(celery.exceptions, n)}
    assert missing == CELERIAC_ONLY


def test_not_registered_is_a_key_error_with_a_readable_str() -> None:
    exc = NotRegistered("proj.nope")
    assert isinstance(exc, KeyError)
    assert str(exc) == "'proj.nope'"
    assert str(NotRegistered()) == "NotRegistered"
    with pytest.raises(KeyError):
        raise exc


def test_timeout_error_is_also_the_builtin() -> None:
    assert issubclass(TimeoutError, builtins.TimeoutError)
    with pytest.raises(builtins.TimeoutError):
        raise TimeoutError("The operation timed out.")


def test_retry_str_and_humanize() -> None:
    assert str(Retry(exc=ValueError("bad"), when=10)) == "Retry in 10s: ValueError('bad')"
    assert str(Retry(exc="a reason", when=10)) == "Retry in 10s: a reason"
    assert str(Retry(when=5)) == "Retry in 5s"
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert str(Retry(when=when)) == f"Retry at {when}"
    assert str(Retry("custom message", exc=ValueError("x"), when=1)) == "custom message"


def test_retry_with_a_string_keeps_it_as_description_only() -> None:
    retry = Retry(exc="a reason", when=1)
    assert retry.exc is None
    assert retry.excs == "a reason"


def test_retry_attributes() -> None:
    cause = ValueError("bad")
    retry = Retry(exc=cause, when=3, is_eager=True)
    assert retry.exc is cause
    assert retry.excs == "ValueError('bad')"
    assert retry.when == 3
    assert retry.is_eager is True
    assert retry.sig is None


def test_retry_pickles() -> None:
    copy = pickle.loads(pickle.dumps(Retry("msg", exc=ValueError("bad"), when=10)))
    assert isinstance(copy, Retry)
    assert (copy.message, copy.excs, copy.when) == ("msg", "ValueError('bad')", 10)


def test_reject() -> None:
    reject = Reject("no thanks", requeue=True)
    assert (reject.reason, reject.requeue) == ("no thanks", True)
    assert repr(reject) == "reject requeue=True: no thanks"
    assert Reject().requeue is False


def test_max_retries_exceeded_keeps_task_arguments() -> None:
    exc = MaxRetriesExceededError("too many", task_args=[1], task_kwargs={"a": 2})
    assert exc.args == ("too many",)
    assert (exc.task_args, exc.task_kwargs) == ([1], {"a": 2})


@pytest.mark.parametrize("cls", [WorkerShutdown, WorkerTerminate])
def test_worker_exit_signals_escape_except_exception(cls: type[SystemExit]) -> None:
    def task_body() -> None:
        try:
            raise cls(0)
        except Exception:  # what a careless task does
            pytest.fail("swallowed")

    with pytest.raises(cls):
        task_body()


@pytest.mark.parametrize(
    ("message", "exc", "when"),
    [(None, ValueError("bad"), 10), (None, None, 5), ("custom", None, 1), (None, "text", 2.5)],
)
def test_retry_str_matches_celery(
    message: str | None, exc: BaseException | str | None, when: float
) -> None:
    ours = Retry(message, exc=exc, when=when)
    theirs = celery.exceptions.Retry(message, exc=exc, when=when)
    assert str(ours) == str(theirs)
