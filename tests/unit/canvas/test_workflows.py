"""Groups, chains and chords run by a real (in-thread) worker over the memory engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group, signature
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import ChordError
from celeriac.result import GroupResult
from celeriac.serialization import json_dumps, json_loads
from celeriac.testing.worker import start_worker


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"canvas-{uuid.uuid4().hex}"
    app = Celery("proj", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)

    @app.task(shared=False, name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(shared=False, name="proj.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(shared=False, name="proj.xsum")
    def xsum(numbers: list[int]) -> int:
        return sum(numbers)

    @app.task(shared=False, name="proj.fail")
    def fail(*args: Any) -> None:
        raise ValueError("broken on purpose")

    @app.task(shared=False, name="proj.double_via_replace", bind=True)
    def double_via_replace(self: Any, x: int) -> int:
        raise self.replace(add.s(x, x))

    @app.task(shared=False, name="proj.fan_out", bind=True)
    def fan_out(self: Any, n: int) -> list[int]:
        raise self.replace(group(add.s(i, i) for i in range(n)))

    @app.task(shared=False, name="proj.grow_chord", bind=True)
    def grow_chord(self: Any, x: int) -> int:
        self.add_to_chord(add.s(100, 0))
        return x

    yield app
    MemoryBroker.reset(name)
    app.close()


@pytest.fixture
def worker(app: Celery) -> Iterator[None]:
    with start_worker(app, concurrency=4):
        yield


def t(app: Celery, name: str) -> Any:
    return app.tasks[f"proj.{name}"]


def test_seed_group_examples(app: Celery, worker: None) -> None:
    add = t(app, "add")
    assert group(add.s(i, i) for i in range(10))().get(timeout=10) == list(range(0, 20, 2))
    g = group(add.s(i) for i in range(10))
    assert g(10).get(timeout=10) == list(range(10, 20))


def test_seed_chain_examples(app: Celery, worker: None) -> None:
    add, mul = t(app, "add"), t(app, "mul")
    assert chain(add.s(4, 4) | mul.s(8))().get(timeout=10) == 64
    assert chain(add.s(4) | mul.s(8))(4).get(timeout=10) == 64
    assert (add.s(4, 4) | mul.s(8))().get(timeout=10) == 64


def test_seed_chord_examples(app: Celery, worker: None) -> None:
    add, xsum = t(app, "add"), t(app, "xsum")
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=10) == 90
    assert (group(add.s(i, i) for i in range(10)) | xsum.s())().get(timeout=10) == 90


def test_task_then_group(app: Celery, worker: None) -> None:
    add = t(app, "add")
    result = (add.s(1, 1) | group(add.s(i) for i in range(3)))()
    assert isinstance(result, GroupResult)
    assert result.get(timeout=10) == [2, 3, 4]


def test_chain_parents_link_back(app: Celery, worker: None) -> None:
    add, mul = t(app, "add"), t(app, "mul")
    result = (add.s(1, 1) | add.s(2) | mul.s(10))()
    assert result.get(timeout=10) == 40
    assert result.parent is not None and result.parent.get(timeout=10) == 4
    assert result.parent.parent is not None and result.parent.parent.get(timeout=10) == 2


def test_chord_body_chained_further(app: Celery, worker: None) -> None:
    add, mul, xsum = t(app, "add"), t(app, "mul"), t(app, "xsum")
    assert (group(add.s(i, i) for i in range(3)) | xsum.s() | mul.s(2))().get(timeout=10) == 12


def test_empty_chord_header_calls_body_with_empty_list(app: Celery, worker: None) -> None:
    assert chord([], t(app, "xsum").s())().get(timeout=10) == 0


def test_failing_header_task_fails_the_body_with_chord_error(app: Celery, worker: None) -> None:
    add, fail, xsum = t(app, "add"), t(app, "fail"), t(app, "xsum")
    result = chord([add.s(1, 1), fail.s(), add.s(2, 2)], xsum.s())()
    # As in Celery, get() raises a failed parent's own error when it sees it first.
    with pytest.raises((ChordError, ValueError), match="broken on purpose"):
        result.get(timeout=10)
    body_error = result.get(timeout=10, follow_parents=False, propagate=False)
    assert isinstance(body_error, ChordError)
    assert "broken on purpose" in str(body_error)


def test_failing_chain_step_fails_the_rest(app: Celery, worker: None) -> None:
    add, fail = t(app, "add"), t(app, "fail")
    result = (add.s(1, 1) | fail.s() | add.s(5))()
    with pytest.raises(ValueError, match="broken on purpose"):
        result.get(timeout=10)


def test_chord_of_chords_and_chain_inside_chord(app: Celery, worker: None) -> None:
    add, mul, xsum = t(app, "add"), t(app, "mul"), t(app, "xsum")
    inner = chord([add.s(1, 1), add.s(2, 2)], xsum.s())  # 6
    assert chord([inner, add.s(3, 3)], xsum.s())().get(timeout=10) == 12
    assert chord([add.s(1, 1) | mul.s(10), add.s(1, 2)], xsum.s())().get(timeout=10) == 23


def test_map_starmap_chunks(app: Celery, worker: None) -> None:
    add, xsum = t(app, "add"), t(app, "xsum")
    assert xsum.map([[1, 2], [3, 4]]).delay().get(timeout=10) == [3, 7]
    assert add.starmap([(1, 2), (3, 4)]).delay().get(timeout=10) == [3, 7]
    parts = add.chunks([(i, i) for i in range(7)], 3)().get(timeout=10)
    assert parts == [[0, 2, 4], [6, 8, 10], [12]]


def test_signature_travels_inside_arguments(app: Celery, worker: None) -> None:
    add, mul = t(app, "add"), t(app, "mul")
    workflow = add.s(4, 4) | mul.s(8)
    decoded = signature(json_loads(json_dumps(workflow)), app=app)
    assert decoded.apply_async().get(timeout=10) == 64


def test_group_result_save_and_restore(app: Celery, worker: None) -> None:
    add = t(app, "add")
    result = group(add.s(i, i) for i in range(3))()
    result.save()
    restored = GroupResult.restore(result.id, app=app)
    assert restored is not None
    assert restored.get(timeout=10) == [0, 2, 4]
    assert restored.ready() and restored.successful() and restored.completed_count() == 3
    restored.delete()
    assert GroupResult.restore(result.id, app=app) is None


def test_replace_takes_over_the_id_and_the_chain(app: Celery, worker: None) -> None:
    replaced, mul = t(app, "double_via_replace"), t(app, "mul")
    assert replaced.delay(21).get(timeout=10) == 42
    assert (replaced.s(5) | mul.s(3))().get(timeout=10) == 30


def test_replace_with_a_group_yields_the_list(app: Celery, worker: None) -> None:
    assert t(app, "fan_out").delay(3).get(timeout=10) == [0, 2, 4]


def test_replace_inside_a_chord_header_counts_once(app: Celery, worker: None) -> None:
    replaced, xsum = t(app, "double_via_replace"), t(app, "xsum")
    assert chord([replaced.s(1), replaced.s(2)], xsum.s())().get(timeout=10) == 6


def test_add_to_chord_makes_the_body_wait_for_the_new_part(app: Celery, worker: None) -> None:
    grow, xsum = t(app, "grow_chord"), t(app, "xsum")
    assert chord([grow.s(1), grow.s(2)], xsum.s())().get(timeout=10) == 1 + 2 + 100 + 100


def test_a_backend_that_cannot_join_refuses_chords(app: Celery) -> None:
    from celeriac.exceptions import ImproperlyConfigured

    app.backend.supports_native_join = False  # as the rpc:// backend
    with pytest.raises(ImproperlyConfigured, match="does not support chords"):
        chord([t(app, "add").s(1, 1)], t(app, "xsum").s())()


def test_revoking_results_before_they_run(app: Celery) -> None:
    add = t(app, "add")
    single = add.delay(1, 1)
    several = group(add.s(i, i) for i in range(3))()
    single.revoke()
    several.revoke()
    with start_worker(app):
        for result in [single, *several.results]:
            with pytest.raises(Exception, match="revoked"):
                result.get(timeout=10)
        assert add.delay(2, 2).get(timeout=10) == 4


def test_chord_header_called_with_its_body(app: Celery, worker: None) -> None:
    add, xsum = t(app, "add"), t(app, "xsum")
    assert chord(add.s(i, i) for i in range(4))(xsum.s()).get(timeout=10) == 12
