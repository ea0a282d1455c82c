"""Exceptions to and from Celery's ``{"exc_type", "exc_message", "exc_module"}`` form."""

from __future__ import annotations

import json
from typing import Any

import billiard.exceptions  # type: ignore[import-untyped]
import celery  # type: ignore[import-untyped]
import celery.exceptions  # type: ignore[import-untyped]
import kombu.exceptions
import pytest

from celeriac import exceptions
from celeriac._internal.exception_codec import (
    RemoteTraceback,
    exception_from_dict,
    exception_to_dict,
    is_exception_dict,
)


class Outer:
    class InnerError(Exception):
        pass


class NeedsTwoArgsError(Exception):
    def __init__(self, a: Any, b: Any) -> None:
        super().__init__(a, b)


def round_trip(exc: BaseException) -> BaseException:
    return exception_from_dict(json.loads(json.dumps(exception_to_dict(exc))))


# -- writing --------------------------------------------------------------------------------


def test_builtin_exception_dict_exact() -> None:
    assert exception_to_dict(KeyError("nope")) == {
        "exc_type": "KeyError",
        "exc_message": ["nope"],
        "exc_module": "builtins",
    }


def test_builtin_round_trip() -> None:
    exc = round_trip(ValueError("bad", 2))
    assert type(exc) is ValueError
    assert exc.args == ("bad", 2)


def test_celeriac_exceptions_are_written_as_celery_exceptions() -> None:
    stored = exception_to_dict(exceptions.ChordError("Dependency x raised"))
    assert stored == {
        "exc_type": "ChordError",
        "exc_message": ["Dependency x raised"],
        "exc_module": "celery.exceptions",
    }
    exc = exception_from_dict(stored)
    assert type(exc) is exceptions.ChordError
    assert exc.args == ("Dependency x raised",)


@pytest.mark.parametrize(
    "exc",
    [
        exceptions.TaskRevokedError("revoked"),
        exceptions.NotRegistered("proj.nope"),
        exceptions.TimeLimitExceeded(30.0),
        exceptions.SoftTimeLimitExceeded(),
        exceptions.MaxRetriesExceededError("too many"),
        exceptions.ImproperlyConfigured("no"),
    ],
)
def test_celeriac_exceptions_round_trip_as_themselves(exc: BaseException) -> None:
    back = round_trip(exc)
    assert type(back) is type(exc)
    assert back.args == exc.args


def test_revoked_meta_result_matches_spec() -> None:
    assert exception_to_dict(exceptions.TaskRevokedError("expired")) == {
        "exc_type": "TaskRevokedError",
        "exc_message": ["expired"],
        "exc_module": "celery.exceptions",
    }


def test_nested_qualname() -> None:
    stored = exception_to_dict(Outer.InnerError("x"))
    assert stored["exc_type"] == "Outer.InnerError"
    assert stored["exc_module"] == __name__
    exc = exception_from_dict(stored)
    assert type(exc) is Outer.InnerError
    assert exc.args == ("x",)


def test_unserializable_args_become_reprs_serializable_ones_are_kept() -> None:
    marker = object()
    stored = exception_to_dict(ValueError(marker, 1, "s", None, [1, [2]], {"a": 1}, 2.5))
    assert stored["exc_message"] == [repr(marker), 1, "s", None, [1, [2]], {"a": 1}, 2.5]
    json.dumps(stored)


def test_args_are_kept_as_celery_keeps_them() -> None:
    peer = celery.Celery("peer", set_as_current=False)
    exc = ValueError({"a": 1}, [1, 2], "x", 3)
    ours = exception_to_dict(exc)
    theirs = peer.backend.prepare_exception(exc)
    assert ours["exc_type"] == theirs["exc_type"]
    assert ours["exc_module"] == theirs["exc_module"]
    assert ours["exc_message"] == list(theirs["exc_message"])


def test_retry_is_stored_by_its_description() -> None:
    stored = exception_to_dict(exceptions.Retry(exc=ValueError("bad"), when=5))
    assert stored["exc_message"] == ["Retry in 5s: ValueError('bad')"]


def test_is_exception_dict() -> None:
    assert is_exception_dict(exception_to_dict(KeyError("x")))
    assert not is_exception_dict({"exc_type": "KeyError"})
    assert not is_exception_dict(["exc_type", "exc_message"])
    assert not is_exception_dict(None)


# -- reading --------------------------------------------------------------------------------


def test_non_exception_class_is_refused_and_synthesized() -> None:
    exc = exception_from_dict(
        {"exc_type": "system", "exc_module": "os", "exc_message": ["echo owned"]}
    )
    assert isinstance(exc, Exception)
    assert type(exc).__name__ == "system"
    assert type(exc).__module__ == "os"
    assert exc.args == ("echo owned",)


def test_non_exception_type_is_refused() -> None:
    exc = exception_from_dict(
        {"exc_type": "OrderedDict", "exc_module": "collections", "exc_message": []}
    )
    assert isinstance(exc, Exception)
    assert type(exc).__name__ == "OrderedDict"


def test_unknown_module_synthesizes_same_name_and_module() -> None:
    stored = {
        "exc_type": "PaymentDeclined",
        "exc_module": "shop.nowhere.errors",
        "exc_message": ["card", 42],
    }
    exc = exception_from_dict(stored)
    cls = type(exc)
    assert isinstance(exc, Exception)
    assert (cls.__name__, cls.__module__) == ("PaymentDeclined", "shop.nowhere.errors")
    assert exc.args == ("card", 42)
    assert type(exception_from_dict(stored)) is cls  # one class per name, so except works


def test_unknown_nested_name_synthesizes_last_part() -> None:
    exc = exception_from_dict(
        {"exc_type": "Outer.Missing", "exc_module": __name__, "exc_message": []}
    )
    assert type(exc).__name__ == "Missing"
    assert type(exc).__qualname__ == "Outer.Missing"


def test_unknown_celery_exception_is_synthesized_under_celery_exceptions() -> None:
    exc = exception_from_dict(
        {"exc_type": "BackendGetMetaError", "exc_module": "celery.exceptions", "exc_message": []}
    )
    assert (type(exc).__name__, type(exc).__module__) == (
        "BackendGetMetaError",
        "celery.exceptions",
    )


def test_celery_security_error_is_celeriacs() -> None:
    exc = exception_from_dict(
        {"exc_type": "SecurityError", "exc_module": "celery.exceptions", "exc_message": ["q"]}
    )
    assert type(exc) is exceptions.SecurityError
    assert exc.args == ("q",)


def test_class_that_rejects_the_args_is_synthesized() -> None:
    stored = exception_to_dict(NeedsTwoArgsError("a", "b"))
    stored["exc_message"] = ["only one"]
    exc = exception_from_dict(stored)
    assert type(exc) is not NeedsTwoArgsError
    assert type(exc).__name__ == "NeedsTwoArgsError"
    assert exc.args == ("only one",)


def test_message_that_is_not_a_list() -> None:
    exc = exception_from_dict(
        {"exc_type": "KeyError", "exc_module": "builtins", "exc_message": "x"}
    )
    assert type(exc) is KeyError
    assert exc.args == ("x",)


def test_missing_fields_default_to_exception() -> None:
    exc = exception_from_dict({"exc_message": ["x"]})
    assert type(exc) is Exception


# -- interop with Celery's own backend code -------------------------------------------------


@pytest.fixture(scope="module")
def peer_backend() -> Any:
    return celery.Celery("peer", set_as_current=False).backend


@pytest.mark.parametrize(
    ("celery_exc", "ours"),
    [
        (billiard.exceptions.TimeLimitExceeded(30), exceptions.TimeLimitExceeded),
        (billiard.exceptions.SoftTimeLimitExceeded(), exceptions.SoftTimeLimitExceeded),
        (billiard.exceptions.WorkerLostError("gone"), exceptions.WorkerLostError),
        (kombu.exceptions.EncodeError("x"), exceptions.EncodeError),
        (kombu.exceptions.ContentDisallowed("x"), exceptions.ContentDisallowed),
        (kombu.exceptions.OperationalError("x"), exceptions.OperationalError),
        (celery.exceptions.ChordError("x"), exceptions.ChordError),
        (celery.exceptions.TaskRevokedError("expired"), exceptions.TaskRevokedError),
        (celery.exceptions.NotRegistered("t"), exceptions.NotRegistered),
    ],
)
def test_celery_stored_exceptions_read_as_celeriac_classes(
    peer_backend: Any, celery_exc: BaseException, ours: type[BaseException]
) -> None:
    stored = json.loads(json.dumps(peer_backend.prepare_exception(celery_exc)))
    exc = exception_from_dict(stored)
    assert type(exc) is ours
    assert exc.args == celery_exc.args


def test_other_library_exceptions_still_resolve_normally() -> None:
    exc = exception_from_dict(
        {"exc_type": "NotBoundError", "exc_module": "kombu.exceptions", "exc_message": []}
    )
    assert type(exc) is kombu.exceptions.NotBoundError


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (exceptions.ChordError("x"), celery.exceptions.ChordError),
        (exceptions.TaskRevokedError("revoked"), celery.exceptions.TaskRevokedError),
        (exceptions.TimeLimitExceeded(30.0), celery.exceptions.TimeLimitExceeded),
        (exceptions.NotRegistered("t"), celery.exceptions.NotRegistered),
        (KeyError("k"), KeyError),
    ],
)
def test_celery_reads_celeriac_exceptions_as_its_classes(
    peer_backend: Any, ours: BaseException, theirs: type[BaseException]
) -> None:
    stored = json.loads(json.dumps(exception_to_dict(ours)))
    exc = peer_backend.exception_to_python(stored)
    assert type(exc) is theirs
    assert exc.args == ours.args


# -- RemoteTraceback ------------------------------------------------------------------------


def test_remote_traceback_str() -> None:
    text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'nope'\n"
    remote = RemoteTraceback(text)
    assert remote.tb == text
    assert str(remote) == f'\n"""\n{text.rstrip()}\n"""'


def test_remote_traceback_as_cause() -> None:
    try:
        raise KeyError("nope") from RemoteTraceback("Traceback ...")
    except KeyError as exc:
        assert isinstance(exc.__cause__, RemoteTraceback)
        assert exc.__cause__.tb == "Traceback ..."


def test_a_module_not_yet_imported_is_never_imported() -> None:
    import sys

    assert "wave" not in sys.modules  # a stdlib module nothing here imports
    exc = exception_from_dict({"exc_type": "Error", "exc_module": "wave", "exc_message": ["x"]})
    assert "wave" not in sys.modules
    assert (type(exc).__name__, type(exc).__module__) == ("Error", "wave")
