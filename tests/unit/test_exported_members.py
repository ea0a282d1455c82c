"""Pin the public API: ``celeriac.__all__`` changes only on purpose."""

from __future__ import annotations

import pytest

import celeriac

EXPORTED = [
    "AsyncResult",
    "Celery",
    "EagerResult",
    "Exchange",
    "GroupResult",
    "Queue",
    "ResultSet",
    "Signature",
    "Task",
    "__version__",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "states",
    "subtask",
    "xmap",
    "xstarmap",
]


def test_all_is_pinned() -> None:
    assert celeriac.__all__ == EXPORTED


def test_all_is_sorted() -> None:
    assert celeriac.__all__ == sorted(celeriac.__all__)


def test_every_exported_name_resolves() -> None:
    for name in celeriac.__all__:
        assert hasattr(celeriac, name), name


def test_exported_classes_say_they_are_public() -> None:
    for name in celeriac.__all__:
        value = getattr(celeriac, name)
        if isinstance(value, type):
            assert not value.__name__.startswith("_"), name
            assert value.__module__.startswith("celeriac."), name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(celeriac, "no_such_name")  # noqa: B009
