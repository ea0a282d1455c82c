"""What ``delay()`` keeps between calls (settings, routes, the argument check) stays right."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from celeriac._internal.arguments import ArgumentCheck
from celeriac.protocol import parse_task_message


@pytest.fixture
def app(add_app: Celery) -> Celery:
    return add_app


def _next(app: Celery, queue: str = "celery") -> Any:
    delivery = app.broker.get([queue], timeout=0)
    assert delivery is not None, f"nothing in {queue}"
    return delivery


def test_settings_changed_between_calls_apply_to_the_next_call(app: Celery) -> None:
    add = app.tasks["proj.add"]
    add.delay(1, 2)
    assert _next(app).message.content_type == "application/json"
    version = app.conf.version
    app.conf.task_serializer = "pickle"
    app.conf.task_default_priority = 6
    assert app.conf.version != version
    add.delay(1, 2)
    delivery = _next(app)
    assert delivery.message.content_type == "application/x-python-serialize"
    assert delivery.message.properties["priority"] == 6

    app.conf.update(task_always_eager=True)
    assert add.delay(2, 3).get() == 5  # ran here, sent nothing
    assert app.broker.get(["celery"], timeout=0) is None
    del app.conf["task_always_eager"]
    add.delay(2, 3)
    assert parse_task_message(_next(app).message).name == "proj.add"


def test_an_override_applies_to_the_next_call(app: Celery) -> None:
    add = app.tasks["proj.add"]
    add.delay(1, 2)
    _next(app)
    app.conf.override(task_ignore_result=True)
    add.delay(1, 2)
    assert _next(app).message.headers["ignore_result"] is True


def test_routes_by_name_are_kept_but_call_options_still_win(app: Celery) -> None:
    app.conf.task_routes = {"proj.*": {"queue": "math"}}
    add = app.tasks["proj.add"]
    for _ in range(2):  # the second call takes the kept route
        add.delay(1, 1)
        assert _next(app, "math").routing_key == "math"
    add.apply_async((1, 1), queue="other")
    assert _next(app, "other").routing_key == "other"
    add.apply_async((1, 1), priority=9)
    assert _next(app, "math").message.properties["priority"] == 9


def test_a_router_function_is_asked_on_every_call(app: Celery) -> None:
    seen: list[Any] = []

    def by_argument(name: str, args: Any, kwargs: Any, options: Any, **_: Any) -> Any:
        seen.append(args)
        return {"queue": "big" if args[0] > 10 else "small"}

    app.conf.task_routes = [by_argument]
    add = app.tasks["proj.add"]
    add.delay(1, 1)
    add.delay(100, 1)
    assert _next(app, "small") and _next(app, "big")
    assert seen == [[1, 1], [100, 1]]


def _fn(a: int, b: int = 2, *rest: int, key: int = 0) -> None: ...


def _needs_keyword(a: int, *, key: int) -> None: ...


def _bound(self: Any, a: int) -> None: ...


@pytest.mark.parametrize(
    ("target", "skip_first", "args", "kwargs", "ok"),
    [
        (_fn, False, (1,), {}, True),
        (_fn, False, (1, 2, 3, 4), {}, True),
        (_fn, False, (), {}, False),
        (_fn, False, (1,), {"key": 1}, True),
        (_fn, False, (1,), {"nope": 1}, False),
        (_needs_keyword, False, (1,), {}, False),
        (_needs_keyword, False, (1,), {"key": 2}, True),
        (_bound, True, (1,), {}, True),
        (_bound, True, (1, 2), {}, False),
        (_bound, True, (), {}, False),
    ],
)
def test_the_argument_check_agrees_with_binding(
    target: Any, skip_first: bool, args: tuple[Any, ...], kwargs: dict[str, Any], ok: bool
) -> None:
    check = ArgumentCheck(target, skip_first=skip_first)
    if ok:
        check.check(args, kwargs)
    else:
        with pytest.raises(TypeError):
            check.check(args, kwargs)


def test_delay_with_wrong_arguments_names_the_task(app: Celery) -> None:
    add = app.tasks["proj.add"]
    with pytest.raises(TypeError, match=r"proj.add: missing a required argument: 'y'"):
        add.delay(1)
    with pytest.raises(TypeError, match=r"proj.add: too many positional arguments"):
        add.delay(1, 2, 3)
    assert app.broker.get(["celery"], timeout=0) is None
