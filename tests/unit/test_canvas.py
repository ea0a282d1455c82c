"""celeriac.canvas: signatures in Celery's wire shape (spec section 2.4)."""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import celery  # type: ignore[import-untyped]
import pytest
from kombu import serialization as kombu_serialization

from celeriac import Celery, serialization
from celeriac.canvas import Signature, maybe_signature, signature, subtask

kombu_dumps: Any = kombu_serialization.dumps  # kombu is untyped

SIGNATURE_KEYS = {"task", "args", "kwargs", "options", "subtask_type", "immutable"}


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("canvas", broker=f"memory://canvas-{uuid.uuid4()}", set_as_current=False)
    yield app
    app.close()


def test_dict_shape() -> None:
    sig: Signature[Any] = Signature("proj.add", (2, 2), {"z": 1}, {"queue": "q"})
    assert isinstance(sig, dict)
    assert set(sig) == SIGNATURE_KEYS
    assert dict(sig) == {
        "task": "proj.add",
        "args": [2, 2],
        "kwargs": {"z": 1},
        "options": {"queue": "q"},
        "subtask_type": None,
        "immutable": False,
    }


def test_field_properties() -> None:
    sig: Signature[Any] = Signature("proj.add", [1], {"a": 2}, immutable=True, countdown=5)
    assert sig.task == "proj.add"
    assert sig.args == [1]
    assert sig.kwargs == {"a": 2}
    assert sig.options == {"countdown": 5}
    assert sig.immutable is True
    assert sig.subtask_type is None
    assert sig.id is None


def test_same_json_as_celery() -> None:
    ours: Signature[Any] = Signature("proj.add", (2, 2), {"z": 1}, {"queue": "q"})
    theirs = celery.signature("proj.add", (2, 2), {"z": 1}, queue="q")
    assert serialization.dumps(ours, "json")[2] == kombu_dumps(theirs, "json")[2].encode()


@pytest.mark.parametrize(
    ("args", "kwargs", "immutable"),
    [
        ((2, 2), {}, False),
        ((), {}, False),
        ((2,), {"y": 3}, False),
        (("a",), {}, True),
        ((), {"k": [1]}, False),
    ],
)
def test_repr_matches_celery(
    args: tuple[Any, ...], kwargs: dict[str, Any], immutable: bool
) -> None:
    ours: Signature[Any] = Signature("proj.add", args, kwargs, immutable=immutable)
    theirs = celery.signature("proj.add", args, kwargs, immutable=immutable)
    assert repr(ours) == repr(theirs)


def test_repr() -> None:
    assert repr(Signature("proj.add", (2, 2))) == "proj.add(2, 2)"
    assert repr(Signature("proj.add", (2,), {"y": "x"})) == "proj.add(2, y='x')"


# -- partials -------------------------------------------------------------------------------


def test_partial_args_are_prepended() -> None:
    sig: Signature[Any] = Signature("proj.add", (2,))
    assert sig.clone((1,)).args == [1, 2]
    assert sig.args == [2]


def test_kwargs_are_merged_new_wins() -> None:
    sig: Signature[Any] = Signature("t", (), {"a": 1, "b": 2})
    assert sig.clone(kwargs={"b": 3, "c": 4}).kwargs == {"a": 1, "b": 3, "c": 4}
    assert sig.kwargs == {"a": 1, "b": 2}


def test_immutable_ignores_args_and_kwargs() -> None:
    sig: Signature[Any] = Signature("t", (1,), {"a": 1}, immutable=True)
    clone = sig.clone((99,), {"a": 2, "b": 3})
    assert (clone.args, clone.kwargs, clone.immutable) == ([1], {"a": 1}, True)


def test_clone_merges_options() -> None:
    sig: Signature[Any] = Signature("t", options={"queue": "a", "countdown": 1})
    assert sig.clone(queue="b").options == {"queue": "b", "countdown": 1}


def test_clone_keeps_own_group_id_and_stamps() -> None:
    # Spec 2.4: "options merged, but the sig's own group_id and stamp keys win".
    sig: Signature[Any] = Signature(
        "t", options={"group_id": "G", "stamped_headers": ["mark"], "mark": "own"}
    )
    clone = sig.clone(group_id="other", mark="new", stamped_headers=["x"], queue="q")
    assert clone.options == {
        "group_id": "G",
        "stamped_headers": ["mark"],
        "mark": "own",
        "queue": "q",
    }
    assert Signature("t").clone(group_id="new").options == {"group_id": "new"}


def test_clone_is_independent_of_the_original() -> None:
    sig: Signature[Any] = Signature("t", (1,), options={"link": [Signature("cb")]})
    clone = sig.clone()
    clone.link(Signature("other"))
    clone.args.append(2)
    clone.kwargs["x"] = 1
    assert sig.options["link"] == [Signature("cb")]
    assert sig.args == [1]
    assert sig.kwargs == {}
    assert clone.options["link"] == [Signature("cb"), Signature("other")]


def test_clone_keeps_app(app: Celery) -> None:
    assert Signature("t", app=app).clone().app is app


def test_signature_function_clones_signatures() -> None:
    sig: Signature[Any] = Signature("t", (1,))
    copy = signature(sig)
    assert copy == sig
    assert copy is not sig
    assert subtask is signature
    assert signature("t", (1,), {"a": 1}) == Signature("t", [1], {"a": 1})


# -- options --------------------------------------------------------------------------------


def test_set_updates_options_in_place() -> None:
    sig: Signature[Any] = Signature("t")
    assert sig.set(queue="q", countdown=3) is sig
    assert sig.options == {"queue": "q", "countdown": 3}
    sig.set(immutable=True)
    assert sig.immutable is True


def test_link_and_link_error() -> None:
    sig: Signature[Any] = Signature("t")
    callback: Signature[Any] = Signature("cb")
    errback: Signature[Any] = Signature("eb")
    assert sig.link(callback) is callback
    assert sig.link_error(errback) is errback
    assert sig.options == {"link": [callback], "link_error": [errback]}
    assert sig.on_error(Signature("eb2")) == Signature("eb2")
    assert sig.options["link_error"] == [errback, Signature("eb2")]


def test_linking_the_same_callback_twice_adds_it_once() -> None:
    sig: Signature[Any] = Signature("t")
    sig.link(Signature("cb", (1,)))
    sig.link(Signature("cb", (1,)))
    assert sig.options["link"] == [Signature("cb", (1,))]


def test_link_onto_a_single_received_callback() -> None:
    # A signature read off the wire may carry a single link dict instead of a list.
    sig: Signature[Any] = Signature({"task": "t", "options": {"link": dict(Signature("a"))}})
    sig.link(Signature("b"))
    assert sig.options["link"] == [Signature("a"), Signature("b")]


def test_links_serialize_as_dicts() -> None:
    sig: Signature[Any] = Signature("t")
    sig.link(Signature("cb", (1,)))
    decoded = json.loads(serialization.json_dumps(sig))
    assert decoded["options"]["link"] == [dict(Signature("cb", (1,)))]


# -- wire round trips -----------------------------------------------------------------------


def test_json_round_trip() -> None:
    sig: Signature[Any] = Signature(
        "proj.add", (2,), {"y": 3}, {"queue": "q", "countdown": 10}, immutable=True
    )
    ctype, encoding, data = serialization.dumps({"sig": sig}, "json")
    decoded = serialization.loads(data, ctype, encoding)["sig"]
    assert decoded == dict(sig)
    again: Signature[Any] = Signature(decoded)
    assert again == sig
    assert isinstance(again, Signature)
    assert again.immutable is True


def test_from_a_dict() -> None:
    data = {
        "task": "proj.add",
        "args": (2, 2),
        "kwargs": {"z": 1},
        "options": {"task_id": "abc"},
        "subtask_type": None,
        "immutable": False,
        "chord_size": None,  # Celery 5.0 only; accepted and ignored
    }
    sig: Signature[Any] = Signature(data)
    assert set(sig) == SIGNATURE_KEYS
    assert (sig.task, sig.args, sig.kwargs, sig.id) == ("proj.add", [2, 2], {"z": 1}, "abc")


def test_from_a_minimal_dict() -> None:
    sig: Signature[Any] = Signature({"task": "t"})
    assert dict(sig) == {
        "task": "t",
        "args": [],
        "kwargs": {},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }


def test_from_a_celery_signature() -> None:
    theirs = celery.signature("proj.add", (2, 2), {"z": 1}, queue="q", immutable=True)
    sig: Signature[Any] = Signature(json.loads(kombu_dumps(theirs, "json")[2]))
    assert sig == Signature("proj.add", (2, 2), {"z": 1}, {"queue": "q"}, immutable=True)


def test_maybe_signature() -> None:
    sig: Signature[Any] = Signature("t")
    assert maybe_signature(sig) is sig
    assert maybe_signature(None) is None
    converted = maybe_signature({"task": "t", "args": [1]})
    assert isinstance(converted, Signature)
    assert converted.args == [1]
    with pytest.raises(TypeError):
        maybe_signature(42)


def test_maybe_signature_binds_app(app: Celery) -> None:
    converted = maybe_signature({"task": "t"}, app)
    assert converted is not None
    assert converted.app is app


def test_pickle_round_trip() -> None:
    sig: Signature[Any] = Signature("t", (1,), {"a": 2}, {"queue": "q"})
    copy = pickle.loads(pickle.dumps(sig))
    assert copy == sig
    assert isinstance(copy, Signature)


def test_signature_of_a_task_object(app: Celery) -> None:
    @app.task(name="canvas.mul", shared=False)
    def mul(x: int, y: int) -> int:
        return x * y

    sig: Signature[Any] = Signature(mul, (2, 3))
    assert sig.task == "canvas.mul"
    assert sig.app is app
    assert sig() == 6


# -- freezing -------------------------------------------------------------------------------


def test_freeze_assigns_a_task_id(app: Celery) -> None:
    sig: Signature[Any] = Signature("t", app=app)
    result = sig.freeze()
    assert sig.id == result.id
    assert sig.options["task_id"] == result.id
    uuid.UUID(result.id)


def test_freeze_is_stable(app: Celery) -> None:
    sig: Signature[Any] = Signature("t", app=app)
    first = sig.freeze().id
    assert sig.freeze().id == first
    # As Celery: an id the signature already has wins over the one offered.
    assert sig.freeze("offered").id == first


def test_freeze_with_an_id(app: Celery) -> None:
    sig: Signature[Any] = Signature("t", app=app)
    assert sig.freeze("chosen").id == "chosen"
    assert sig.id == "chosen"
