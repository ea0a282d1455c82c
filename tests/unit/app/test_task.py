"""celeriac.app.task: naming, calling, eager mode and the registry, as in Celery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, EagerResult, Task, shared_task, states
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import MaxRetriesExceededError, NotRegistered


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"test-task-{uuid.uuid4()}"
    app = Celery("proj", broker=f"memory://{name}", set_as_current=False)
    yield app
    app.close()
    MemoryBroker.reset(name)


@pytest.fixture
def eager_app(app: Celery) -> Celery:
    app.conf.task_always_eager = True
    return app


def published(app: Celery) -> int:
    return app.broker.size(app.conf.task_default_queue)


class Flaky:
    """Fails ``failures`` times, then succeeds; counts its attempts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[int] = []


# -- naming ---------------------------------------------------------------------------------


def test_name_is_module_and_function(app: Celery) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    assert add.name == f"{__name__}.add"
    assert app.tasks[add.name] is add


def test_main_module_is_replaced_by_app_main(app: Celery) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def job():\n    return 1\n", namespace)
    task = app.task(shared=False)(namespace["job"])
    assert task.name == "proj.job"


def test_main_module_without_app_main() -> None:
    bare = Celery(set_as_current=False)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def job():\n    return 1\n", namespace)
    assert bare.task(shared=False)(namespace["job"]).name == "__main__.job"


def test_explicit_name(app: Celery) -> None:
    @app.task(name="custom.name", shared=False)
    def anything() -> None:
        return None

    assert anything.name == "custom.name"
    assert "custom.name" in app.tasks


def test_decorator_without_parentheses(app: Celery) -> None:
    @app.task
    def plain() -> int:
        return 1

    assert isinstance(plain, Task)
    assert plain() == 1


def test_task_keeps_the_function_metadata(app: Celery) -> None:
    @app.task(shared=False)
    def documented() -> None:
        """Say what it does."""

    assert documented.__doc__ == "Say what it does."
    assert documented.__module__ == __name__


def test_unknown_task_option_raises_type_error(app: Celery) -> None:
    def fn() -> None:
        return None

    with pytest.raises(TypeError, match="unknown task option 'not_an_option'"):
        app.task(not_an_option=1, shared=False)(fn)


def test_known_options_are_set(app: Celery) -> None:
    @app.task(queue="hipri", max_retries=5, ignore_result=True, shared=False)
    def configured() -> None:
        return None

    assert (configured.queue, configured.max_retries, configured.ignore_result) == (
        "hipri",
        5,
        True,
    )


def test_class_based_task(app: Celery) -> None:
    class Multiply(Task[Any, int]):
        name = "proj.multiply"

        def run(self, x: int, y: int) -> int:
            return x * y

    task = app.register_task(Multiply)
    assert app.tasks["proj.multiply"] is task
    assert task(3, 4) == 12
    assert task.app is app


# -- calling directly -----------------------------------------------------------------------


def test_direct_call_runs_locally_and_sends_nothing(app: Celery) -> None:
    seen: list[Any] = []

    @app.task(bind=True, shared=False)
    def add(self: Task[Any, int], x: int, y: int) -> int:
        seen.append((self.request.called_directly, self.request.is_eager, self.request.args))
        return x + y

    assert add(2, 2) == 4
    assert seen == [(True, False, [2, 2])]
    assert published(app) == 0


def test_bind_passes_the_task_as_self(app: Celery) -> None:
    @app.task(bind=True, shared=False)
    def who(self: Task[Any, Any]) -> Any:
        return self

    assert who() is who


def test_request_outside_a_run_is_empty(app: Celery) -> None:
    @app.task(shared=False)
    def noop() -> None:
        return None

    assert noop.request.id is None
    assert noop.request.called_directly is True


# -- argument checking ----------------------------------------------------------------------


def test_delay_publishes_one_message(app: Celery) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(2, 2)
    assert published(app) == 1
    message = app.broker.peek("celery")[0]
    assert message.headers["task"] == add.name
    assert message.headers["id"] == result.id


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3), {}), ((1,), {"z": 2}), ((), {})],
)
def test_wrong_arguments_raise_type_error_and_send_nothing(
    app: Celery, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError, match=add.name):
        add.apply_async(args, kwargs)
    with pytest.raises(TypeError):
        add.delay(*args, **kwargs)
    assert published(app) == 0


def test_bound_task_checks_arguments_without_self(app: Celery) -> None:
    @app.task(bind=True, shared=False)
    def bound(self: Task[Any, Any], x: int) -> int:
        return x

    bound.delay(1)
    with pytest.raises(TypeError):
        bound.delay()
    assert published(app) == 1


def test_typing_false_skips_the_check(app: Celery) -> None:
    @app.task(typing=False, shared=False)
    def loose(x: int) -> int:
        return x

    loose.delay(1, 2, 3)  # type: ignore[call-arg]
    assert published(app) == 1


def test_wrong_arguments_fail_in_eager_mode_too(eager_app: Celery) -> None:
    calls: list[int] = []

    @eager_app.task(shared=False)
    def one(x: int) -> None:
        calls.append(x)

    with pytest.raises(TypeError):
        one.delay()  # type: ignore[call-arg]
    assert calls == []


# -- eager mode -----------------------------------------------------------------------------


def test_always_eager_delay_get(eager_app: Celery) -> None:
    @eager_app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(2, 2)
    assert isinstance(result, EagerResult)
    assert result.get() == 4
    assert result.state == states.SUCCESS
    assert result.successful()
    assert published(eager_app) == 0


def test_eager_request(eager_app: Celery) -> None:
    @eager_app.task(bind=True, shared=False)
    def inspect_request(self: Task[Any, Any], x: int) -> Any:
        request = self.request
        return [
            request.id,
            request.is_eager,
            request.called_directly,
            request.args,
            request.root_id,
        ]

    result = inspect_request.apply_async((7,), task_id="fixed-id")
    assert result.id == "fixed-id"
    assert result.get() == ["fixed-id", True, False, [7], "fixed-id"]


def test_eager_failure_does_not_propagate_by_default(eager_app: Celery) -> None:
    @eager_app.task(shared=False)
    def boom() -> None:
        raise ValueError("bad")

    result = boom.delay()
    assert result.state == states.FAILURE
    assert result.failed()
    assert isinstance(result.result, ValueError)
    assert result.traceback is not None
    assert "ValueError: bad" in result.traceback
    returned: Any = result.get(propagate=False)
    assert returned is result.result
    with pytest.raises(ValueError, match="bad"):
        result.get()


def test_eager_failure_propagates_with_task_eager_propagates(eager_app: Celery) -> None:
    eager_app.conf.task_eager_propagates = True

    @eager_app.task(shared=False)
    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        boom.delay()


def test_apply_returns_an_eager_result(app: Celery) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(shared=False)
    def boom() -> None:
        raise KeyError("nope")

    ok = add.apply((2, 2))
    assert isinstance(ok, EagerResult)
    assert (ok.state, ok.result, ok.traceback) == (states.SUCCESS, 4, None)
    assert ok.ready()
    failed = boom.apply()
    assert failed.state == states.FAILURE
    assert isinstance(failed.result, KeyError)
    assert failed.traceback is not None
    assert failed.traceback.startswith("Traceback (most recent call last)")
    with pytest.raises(KeyError):
        boom.apply(throw=True)
    assert published(app) == 0


def test_eager_retry_reruns_until_success(eager_app: Celery) -> None:
    flaky = Flaky(failures=2)

    @eager_app.task(bind=True, max_retries=5, shared=False)
    def unreliable(self: Task[Any, str]) -> str:
        flaky.attempts.append(self.request.retries)
        if len(flaky.attempts) <= flaky.failures:
            raise self.retry(exc=ConnectionError("down"), countdown=60)
        return "done"

    result = unreliable.delay()
    assert result.get() == "done"
    assert flaky.attempts == [0, 1, 2]


def test_eager_retry_gives_up_after_max_retries(eager_app: Celery) -> None:
    flaky = Flaky(failures=100)

    @eager_app.task(bind=True, max_retries=2, shared=False)
    def hopeless(self: Task[Any, None]) -> None:
        flaky.attempts.append(self.request.retries)
        raise self.retry(countdown=60)

    result = hopeless.delay()
    assert flaky.attempts == [0, 1, 2]
    assert result.state == states.FAILURE
    assert isinstance(result.result, MaxRetriesExceededError)


def test_eager_retry_raises_the_given_exception_after_max_retries(eager_app: Celery) -> None:
    @eager_app.task(bind=True, max_retries=1, shared=False)
    def hopeless(self: Task[Any, None]) -> None:
        raise self.retry(exc=ConnectionError("down"), countdown=1)

    result = hopeless.delay()
    assert result.state == states.FAILURE
    assert isinstance(result.result, ConnectionError)


def test_retry_when_called_directly_raises_the_exception(app: Celery) -> None:
    @app.task(bind=True, shared=False)
    def direct(self: Task[Any, None]) -> None:
        raise self.retry(exc=ConnectionError("down"))

    with pytest.raises(ConnectionError):
        direct()
    assert published(app) == 0


# -- shared tasks and the registry ----------------------------------------------------------


def test_shared_task_is_registered_on_every_app() -> None:
    before = Celery("before", set_as_current=False)

    @shared_task
    def shared_double(x: int) -> int:
        return 2 * x

    after = Celery("after", set_as_current=False)
    name = f"{__name__}.shared_double"
    assert shared_double.name == name
    first, second = before.tasks[name], after.tasks[name]
    assert first is not second
    assert first.app is before
    assert second.app is after
    assert first(2) == second(2) == 4


def test_shared_task_with_options() -> None:
    @shared_task(name="tests.shared.named", bind=True)
    def named(self: Task[Any, str]) -> str:
        return self.name

    other = Celery("other", set_as_current=False)
    assert other.tasks["tests.shared.named"]() == "tests.shared.named"


def test_app_tasks_are_shared_with_other_apps_by_default(app: Celery) -> None:
    @app.task(name="tests.app.adopted")
    def adopted() -> int:
        return 1

    other = Celery("other", set_as_current=False)
    assert other.tasks["tests.app.adopted"].app is other


def test_not_registered_is_a_key_error(app: Celery) -> None:
    with pytest.raises(NotRegistered) as info:
        app.tasks["proj.nope"]
    assert isinstance(info.value, KeyError)
    with pytest.raises(KeyError):
        app.tasks["proj.nope"]
    assert app.tasks.get("proj.nope") is None
    with pytest.raises(NotRegistered):
        app.tasks.unregister("proj.nope")


def test_registry_regular_excludes_builtins(app: Celery) -> None:
    @app.task(name="zz.user", shared=False)
    def user() -> None:
        return None

    @app.task(name="celery.builtin_like", shared=False)
    def builtin() -> None:
        return None

    names = list(app.tasks.regular())
    assert "zz.user" in names
    assert "celery.builtin_like" not in names


def test_repr(app: Celery) -> None:
    @app.task(name="proj.r", shared=False)
    def r() -> None:
        return None

    assert repr(r) == "<@task: proj.r of proj>"


def test_direct_call_inside_a_task_gets_its_own_request() -> None:
    from celeriac import Celery

    app = Celery("nested", task_always_eager=True, set_as_current=False)

    @app.task(bind=True, shared=False)
    def inner(self: Any, x: int) -> tuple[Any, bool]:
        return self.request.args, self.request.called_directly

    @app.task(bind=True, shared=False)
    def outer(self: Any) -> tuple[Any, Any]:
        return inner(5), self.request.id

    (args, direct), outer_id = outer.delay().get()
    assert args == [5] and direct is True
    assert outer_id is not None
