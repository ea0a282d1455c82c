"""Random nestings of group, chain and chord give what evaluating them locally gives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeriac import Celery, chain, chord, group
from celeriac.brokers.memory import MemoryBroker
from celeriac.testing.worker import start_worker

# -- a tiny expression language and its local meaning -------------------------------


@dataclass(frozen=True)
class Leaf:
    op: str  # "add" | "mul"
    a: int
    b: int


@dataclass(frozen=True)
class Step:  # a partial task: prev op k
    op: str
    k: int


@dataclass(frozen=True)
class ChordStep:  # prev -> chord([prev op k ...], xsum)
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Chain:
    first: Any  # Leaf | Chord
    steps: tuple[Any, ...]  # Step | ChordStep


@dataclass(frozen=True)
class Chord:
    header: tuple[Any, ...]  # int-valued expressions


def apply_op(op: str, x: int, y: int) -> int:
    return x + y if op == "add" else x * y


def evaluate(expr: Any) -> Any:
    if isinstance(expr, Leaf):
        return apply_op(expr.op, expr.a, expr.b)
    if isinstance(expr, Chord):
        return sum(evaluate(member) for member in expr.header)
    if isinstance(expr, Chain):
        value = evaluate(expr.first)
        for step in expr.steps:
            if isinstance(step, Step):
                value = apply_op(step.op, value, step.k)
            else:
                value = sum(apply_op(s.op, value, s.k) for s in step.steps)
        return value
    if isinstance(expr, tuple):  # a top-level group
        return [evaluate(member) for member in expr]
    raise TypeError(expr)


small = st.integers(min_value=0, max_value=5)
leaves = st.builds(Leaf, st.sampled_from(["add", "mul"]), small, small)
steps = st.builds(Step, st.sampled_from(["add", "mul"]), small)
chord_steps = st.builds(ChordStep, st.lists(steps, min_size=1, max_size=3).map(tuple))


def int_expressions() -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Chord, st.lists(inner, min_size=1, max_size=3).map(tuple)),
            st.builds(
                Chain,
                st.one_of(
                    leaves, st.builds(Chord, st.lists(inner, min_size=1, max_size=3).map(tuple))
                ),
                st.lists(st.one_of(steps, chord_steps), min_size=1, max_size=3).map(tuple),
            ),
        ),
        max_leaves=6,
    )


expressions = st.one_of(
    int_expressions(), st.lists(int_expressions(), min_size=1, max_size=3).map(tuple)
)

# -- the same expression as a celeriac canvas ----------------------------------------


def build(expr: Any, tasks: dict[str, Any]) -> Any:
    if isinstance(expr, Leaf):
        return tasks[expr.op].s(expr.a, expr.b)
    if isinstance(expr, Chord):
        return chord([build(member, tasks) for member in expr.header], tasks["xsum"].s())
    if isinstance(expr, Chain):
        parts = [build(expr.first, tasks)]
        for step in expr.steps:
            if isinstance(step, Step):
                parts.append(tasks[step.op].s(step.k))
            else:
                parts.append(chord([tasks[s.op].s(s.k) for s in step.steps], tasks["xsum"].s()))
        return chain(*parts)
    return group(build(member, tasks) for member in expr)


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Celery, dict[str, Any]]]:
    name = f"nesting-{uuid.uuid4().hex}"
    app = Celery("nest", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)

    @app.task(shared=False, name="nest.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(shared=False, name="nest.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(shared=False, name="nest.xsum")
    def xsum(numbers: list[int]) -> int:
        return sum(numbers)

    with start_worker(app, concurrency=4, prefetch_multiplier=8):
        yield app, {"add": add, "mul": mul, "xsum": xsum}
    MemoryBroker.reset(name)
    app.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions)
def test_canvas_matches_local_evaluation(running: tuple[Celery, dict[str, Any]], expr: Any) -> None:
    _, tasks = running
    result = build(expr, tasks).apply_async()
    assert result.get(timeout=20) == evaluate(expr)
