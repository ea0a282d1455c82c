"""celeriac.app.routing: task_routes, queues and exchanges, resolved as Celery does."""

from __future__ import annotations

import re
from typing import Any

import pytest

from celeriac.app.routing import Exchange, Queue, Route, Router, compile_routers
from celeriac.exceptions import ImproperlyConfigured


def router(routes: Any = None, *queues: Queue, create_missing: bool = True) -> Router:
    return Router(routes, {q.name: q for q in queues}, "celery", create_missing)


def route_to_hipri(name: str, args: Any, kwargs: Any, options: Any, task: Any = None) -> Any:
    return {"queue": "hipri"} if name.startswith("proj.") else None


def route_without_task_kwarg(name: str, args: Any, kwargs: Any, options: Any) -> Any:
    return "fourargs" if name == "proj.four" else None


# -- the default route ----------------------------------------------------------------------


def test_default_queue_goes_through_the_default_exchange() -> None:
    assert router().route("proj.add") == Route(queue="celery", exchange="", routing_key="celery")


def test_default_queue_name_is_configurable() -> None:
    found = Router(None, {}, "jobs").route("proj.add")
    assert (found.queue, found.exchange, found.routing_key) == ("jobs", "", "jobs")


def test_declared_direct_queue_with_named_exchange_still_uses_default_exchange() -> None:
    # Celery: a direct queue is published to through "" unless exchange and key are given.
    queue = Queue("celery", Exchange("celery"), "celery")
    assert router(None, queue).route("t") == Route("celery", "", "celery")


# -- task_routes ----------------------------------------------------------------------------


def test_exact_name() -> None:
    r = router({"proj.add": {"queue": "hipri"}})
    assert r.route("proj.add") == Route("hipri", "", "hipri")
    assert r.route("proj.mul").queue == "celery"


def test_string_route_value_is_a_queue_name() -> None:
    assert router({"proj.add": "hipri"}).route("proj.add") == Route("hipri", "", "hipri")


def test_glob() -> None:
    r = router({"proj.*": "hipri", "other.?dd": "q2"})
    assert r.route("proj.add").queue == "hipri"
    assert r.route("proj.sub.deep").queue == "hipri"
    assert r.route("other.add").queue == "q2"
    assert r.route("other.aadd").queue == "celery"
    assert r.route("xproj.add").queue == "celery"


def test_exact_name_wins_over_glob() -> None:
    r = router({"proj.*": "glob", "proj.add": "exact"})
    assert r.route("proj.add").queue == "exact"


def test_regex_keys() -> None:
    r = router({re.compile(r"(image|video)\.tasks\..*"): {"queue": "media"}})
    assert r.route("image.tasks.resize").queue == "media"
    assert r.route("video.tasks.cut").queue == "media"
    assert r.route("audio.tasks.mix").queue == "celery"


def test_list_of_dicts_first_match_wins() -> None:
    r = router([{"proj.add": "first"}, {"proj.*": "second"}, {"other.*": "third"}])
    assert r.route("proj.add").queue == "first"
    assert r.route("proj.mul").queue == "second"
    assert r.route("other.x").queue == "third"
    assert r.route("none").queue == "celery"


def test_router_function_with_task_kwarg() -> None:
    r = router([route_to_hipri])
    assert r.route("proj.add").queue == "hipri"
    assert r.route("other.add").queue == "celery"


def test_router_function_without_task_kwarg() -> None:
    r = router([route_without_task_kwarg, route_to_hipri])
    assert r.route("proj.four").queue == "fourargs"
    assert r.route("proj.add").queue == "hipri"


def test_router_receives_name_args_kwargs_options() -> None:
    seen: list[Any] = []

    def spy(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> Any:
        seen.append((name, args, kwargs, options))
        return None

    router(spy).route("proj.add", (1, 2), {"k": 3}, {"countdown": 5})
    assert seen == [("proj.add", (1, 2), {"k": 3}, {"countdown": 5})]


def test_router_given_by_import_path() -> None:
    path = f"{__name__}.route_to_hipri"
    assert router(path).route("proj.add").queue == "hipri"
    assert router([f"{__name__}:route_to_hipri"]).route("proj.add").queue == "hipri"


def test_bad_router_entries() -> None:
    with pytest.raises(ImproperlyConfigured, match="cannot import router"):
        compile_routers("no_such_module_x.route")
    with pytest.raises(ImproperlyConfigured, match="not a dict"):
        compile_routers([42])


def test_no_routes() -> None:
    assert compile_routers(None) == []


# -- call-time options win ------------------------------------------------------------------


def test_queue_at_call_time_wins() -> None:
    r = router({"proj.add": "hipri"})
    assert r.route("proj.add", options={"queue": "lopri"}) == Route("lopri", "", "lopri")


def test_priority_from_route_and_call() -> None:
    r = router({"proj.add": {"queue": "hipri", "priority": 5}})
    assert r.route("proj.add").priority == 5
    assert r.route("proj.add", options={"priority": 9}).priority == 9
    assert r.route("proj.mul").priority is None


def test_none_options_do_not_override_routes() -> None:
    r = router({"proj.add": "hipri"})
    assert r.route("proj.add", options={"queue": None}).queue == "hipri"


# -- exchanges ------------------------------------------------------------------------------


def test_named_exchange_route_with_routing_key() -> None:
    r = router({"proj.add": {"queue": "hipri", "exchange": "tasks", "routing_key": "task.hi"}})
    assert r.route("proj.add") == Route("hipri", "tasks", "task.hi")


def test_direct_route_with_only_a_routing_key_uses_the_default_exchange() -> None:
    # Celery: (not exchange or not routing_key) and direct => exchange "", key = queue name.
    r = router({"proj.add": {"queue": "hipri", "routing_key": "other"}})
    assert r.route("proj.add") == Route("hipri", "", "hipri")


def test_direct_route_with_only_an_exchange_uses_the_default_exchange() -> None:
    r = router({"proj.add": {"queue": "hipri", "exchange": "tasks"}})
    assert r.route("proj.add") == Route("hipri", "", "hipri")


def test_exchange_object_in_route() -> None:
    r = router({"proj.add": {"queue": "q", "exchange": Exchange("ex"), "routing_key": "k"}})
    assert r.route("proj.add") == Route("q", "ex", "k")


def test_exchange_and_routing_key_at_call_time() -> None:
    found = router().route("proj.add", options={"exchange": "ex", "routing_key": "rk"})
    assert (found.exchange, found.routing_key) == ("ex", "rk")


def test_topic_queue_uses_its_exchange_and_key() -> None:
    topic = Queue("feeds", Exchange("feeds-x", "topic"), "feed.#")
    r = router({"proj.feed": {"queue": "feeds"}}, topic)
    assert r.route("proj.feed") == Route("feeds", "feeds-x", "feed.#")
    custom = r.route("proj.feed", options={"routing_key": "feed.news"})
    assert custom == Route("feeds", "feeds-x", "feed.news")


def test_queue_object_as_route_value() -> None:
    topic = Queue("media", Exchange("media-x", "topic"), "media.*")
    r = router({"proj.resize": {"queue": topic}})
    assert r.route("proj.resize") == Route("media", "media-x", "media.*")


def test_queue_object_at_call_time() -> None:
    found = router().route("t", options={"queue": Queue("direct-q")})
    assert found == Route("direct-q", "", "direct-q")


# -- queues ---------------------------------------------------------------------------------


def test_missing_queues_are_created() -> None:
    r = router({"proj.add": "new"})
    r.route("proj.add")
    assert r.queues["new"] == Queue("new", Exchange("new"), "new")
    assert r.queue("other").name == "other"


def test_create_missing_queues_off_is_an_error() -> None:
    r = router({"proj.add": "undeclared"}, Queue("celery"), create_missing=False)
    assert r.route("proj.mul").queue == "celery"
    with pytest.raises(ImproperlyConfigured, match="undeclared"):
        r.route("proj.add")


def test_declared_queue_is_used() -> None:
    declared = Queue("hipri", routing_key="hi")
    r = router({"proj.add": "hipri"}, declared)
    assert r.queue("hipri") is declared


def test_queue_defaults() -> None:
    queue = Queue("q")
    assert queue.exchange_name == "q"
    assert queue.exchange_type == "direct"
    assert queue.key == "q"
    assert (queue.durable, queue.exclusive, queue.auto_delete) == (True, False, False)


def test_queue_with_string_exchange() -> None:
    queue = Queue("q", "ex", "rk")
    assert (queue.exchange_name, queue.exchange_type, queue.key) == ("ex", "direct", "rk")


def test_exchange_defaults() -> None:
    assert Exchange() == Exchange("", "direct", True, False)


def test_queue_as_dict() -> None:
    queue = Queue("q", Exchange("x", "topic"), "k.#", queue_arguments={"x-max-priority": 10})
    assert queue.as_dict() == {
        "name": "q",
        "exchange": {"name": "x", "type": "topic"},
        "routing_key": "k.#",
        "durable": True,
        "exclusive": False,
        "auto_delete": False,
        "queue_arguments": {"x-max-priority": 10},
    }


# -- the same answers as a real Celery client -----------------------------------------------

CELERY_ROUTES: dict[str, Any] = {
    "proj.add": {"queue": "hipri", "routing_key": "other"},
    "proj.named": {"queue": "hipri", "exchange": "tasks", "routing_key": "task.hi"},
    "proj.only_exchange": {"queue": "hipri", "exchange": "tasks"},
    "proj.feed": {"queue": "feeds"},
    "proj.string": "hipri",
    "glob.*": "hipri",
}


@pytest.fixture(scope="module")
def celery_publishes() -> Any:
    """Send with a real Celery client (kombu memory transport); return (exchange, key)."""
    import celery  # type: ignore[import-untyped]
    from celery.signals import before_task_publish  # type: ignore[import-untyped]

    seen: list[tuple[str, str]] = []

    def record(exchange: str = "", routing_key: str = "", **_: Any) -> None:
        seen.append((exchange, routing_key))

    peer = celery.Celery("peer", broker="memory://", set_as_current=False)
    peer.conf.task_routes = CELERY_ROUTES
    peer.conf.task_queues = kombu_queues()
    before_task_publish.connect(record, weak=False)

    def publish(name: str, **options: Any) -> tuple[str, str]:
        peer.send_task(name, (1,), **options)
        return seen[-1]

    yield publish
    before_task_publish.disconnect(record)
    peer.close()


def kombu_queues() -> list[Any]:
    from kombu import entity

    kombu_exchange: Any = entity.Exchange
    kombu_queue: Any = entity.Queue
    return [
        kombu_queue("celery"),
        kombu_queue("hipri"),
        kombu_queue("feeds", kombu_exchange("feeds-x", "topic"), "feed.#"),
    ]


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("proj.add", {}),
        ("proj.named", {}),
        ("proj.only_exchange", {}),
        ("proj.feed", {}),
        ("proj.feed", {"routing_key": "feed.news"}),
        ("proj.string", {}),
        ("glob.x", {}),
        ("proj.unrouted", {}),
        ("proj.named", {"queue": "celery"}),
    ],
)
def test_same_exchange_and_routing_key_as_celery(
    celery_publishes: Any, name: str, options: dict[str, Any]
) -> None:
    feeds = Queue("feeds", Exchange("feeds-x", "topic"), "feed.#")
    ours = router(CELERY_ROUTES, Queue("celery"), Queue("hipri"), feeds).route(
        name, (1,), {}, options
    )
    assert (ours.exchange, ours.routing_key) == celery_publishes(name, **options)


@pytest.mark.parametrize(
    ("name", "options"),
    [("proj.add", {}), ("proj.feed", {}), ("proj.feed", {"routing_key": "feed.news"})],
)
def test_kombu_queues_route_as_celery_does(
    celery_publishes: Any, name: str, options: dict[str, Any]
) -> None:
    ours = router(CELERY_ROUTES, *kombu_queues()).route(name, (1,), {}, options)
    assert (ours.exchange, ours.routing_key) == celery_publishes(name, **options)


def test_kombu_queues_are_converted() -> None:
    celery_queue, _, feeds = kombu_queues()
    r = router(None, celery_queue, feeds)
    assert r.queue("celery") == Queue("celery")
    assert r.queue("feeds") == Queue("feeds", Exchange("feeds-x", "topic"), "feed.#")
    assert r.queue("feeds").as_dict()["exchange"] == {"name": "feeds-x", "type": "topic"}


def test_kombu_queue_and_exchange_as_route_values() -> None:
    from kombu import entity

    kombu_exchange: Any = entity.Exchange
    _, _, feeds = kombu_queues()
    assert router().route("t", options={"queue": feeds}) == Route("feeds", "feeds-x", "feed.#")
    found = router().route("t", options={"exchange": kombu_exchange("ex"), "routing_key": "k"})
    assert (found.exchange, found.routing_key) == ("ex", "k")


def test_router_function_receives_the_task_object() -> None:
    from celeriac import Celery

    app = Celery("r", broker="memory://routing-task-kw", set_as_current=False)
    seen: list[object] = []

    def router(name, args, kwargs, options, task=None, **kw):  # type: ignore[no-untyped-def]
        seen.append(task)
        return {"queue": "picked"}

    app.conf.task_routes = [router]

    @app.task(shared=False)
    def work() -> None:
        return None

    assert app.router.route(work.name).queue == "picked"
    assert seen == [work]


def test_missing_queue_raises_queue_not_found() -> None:
    from celeriac.app.routing import Router
    from celeriac.exceptions import QueueNotFound

    router = Router(None, {}, "celery", create_missing=False)
    with pytest.raises(QueueNotFound):
        router.queue("nope")
    with pytest.raises(KeyError):  # Celery's QueueNotFound is a KeyError too
        router.queue("nope")
