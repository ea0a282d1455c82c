"""The Task class: a function plus its options, and the request context it runs in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, NoReturn, ParamSpec, TypeVar

from celeriac import _state, states
from celeriac._internal.arguments import ArgumentCheck
from celeriac.app.send_settings import send_defaults
from celeriac.app.task_handlers import TaskHandlers, overridden_handlers
from celeriac.canvas import Signature
from celeriac.exceptions import Ignore, Retry

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend
    from celeriac.result import AsyncResult, EagerResult

__all__ = ["Context", "Task"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True)
class Context:
    """What a running task knows about its own call: ``self.request`` (Celery names)."""

    id: str | None = None
    task: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    eta: str | None = None
    expires: str | None = None
    is_eager: bool = False
    called_directly: bool = True
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    chord: dict[str, Any] | None = None
    chain: list[dict[str, Any]] | None = None
    callbacks: list[dict[str, Any]] | None = None
    errbacks: list[dict[str, Any]] | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    origin: str | None = None
    shadow: str | None = None
    ignore_result: bool = False
    argsrepr: str | None = None
    kwargsrepr: str | None = None
    stamps: dict[str, Any] = field(default_factory=dict)
    replaced_task_nesting: int = 0
    children: list[Any] = field(default_factory=list)
    utc: bool = True

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style read, as Celery's Context allows."""
        return getattr(self, key, default)


_EMPTY_REQUEST = Context()
#: Task attributes that are defaults of the same-named ``apply_async`` options.
_SEND_OPTIONS = ("queue", "priority", "serializer", "time_limit", "soft_time_limit", "expires")


class Task(TaskHandlers, Generic[P, R]):
    """A registered task: call it, send it, or build signatures from it.

    Made by ``@app.task``; class-based tasks subclass it and define :meth:`run`.
    """

    #: Task name, ``module.function`` by default.
    name: str = ""
    #: Whether ``run`` receives the task as its first argument.
    bind: bool = False
    typing: bool = True
    ignore_result: bool | None = None
    track_started: bool | None = None
    acks_late: bool | None = None
    acks_on_failure_or_timeout: bool | None = None
    acks_on_failure: bool | None = None
    acks_on_timeout: bool | None = None
    reject_on_worker_lost: bool | None = None
    serializer: str | None = None
    queue: str | None = None
    priority: int | None = None
    max_retries: int | None = 3
    default_retry_delay: float = 180
    time_limit: float | None = None
    soft_time_limit: float | None = None
    rate_limit: str | float | None = None
    expires: float | dt.datetime | None = None
    store_errors_even_if_ignored: bool = False
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = {}  # noqa: RUF012 - read-only class default
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600
    retry_jitter: bool = True

    def __init__(
        self,
        fn: Callable[..., R] | None = None,
        *,
        app: Celery | None = None,
        name: str | None = None,
        bind: bool = False,
        **options: Any,
    ) -> None:
        self._app = app
        self._fn = fn
        self.bind = bind
        for key, value in options.items():
            if not hasattr(type(self), key) or key.startswith("_"):
                raise TypeError(f"unknown task option {key!r}")
            setattr(self, key, value)
        if fn is not None:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn
            self.__module__ = fn.__module__
        self.name = name or self.name or self._default_name()
        self._arguments: ArgumentCheck | None = None  # made on the first check
        self._handlers = overridden_handlers(type(self))  # found once, not per run

    def _default_name(self) -> str:
        target: Any = self._fn if self._fn is not None else type(self)
        module = target.__module__
        if module == "__main__" and self._app is not None and self._app.main:
            module = self._app.main
        return f"{module}.{target.__name__}"

    @property
    def app(self) -> Celery:
        """The app this task belongs to (the current app for shared tasks)."""
        return self._app or _state.get_current_app()

    @property
    def backend(self) -> ResultBackend:
        """The app's result backend."""
        return self.app.backend

    @property
    def request(self) -> Context:
        """The request this task is running for (an empty one outside a run)."""
        running = _state.current_task_and_request()
        if running is not None and running[0] is self:
            return running[1]
        if running is not None and running[0].name == self.name:
            return running[1]
        return _EMPTY_REQUEST

    # -- running -------------------------------------------------------------------

    def run(self, *args: Any, **kwargs: Any) -> R:
        """The task body; the decorated function unless a subclass overrides it."""
        if self._fn is None:
            raise NotImplementedError(f"task {self.name} defines no run()")
        if self.bind:
            return self._fn(self, *args, **kwargs)
        return self._fn(*args, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task body here and now; no message is sent."""
        request = Context(args=list(args), kwargs=dict(kwargs), task=self.name)
        with _state.running_task(self, request):
            return self.run(*args, **kwargs)

    def check_arguments(self, args: Iterable[Any], kwargs: dict[str, Any]) -> None:
        """Raise ``TypeError`` now if the task cannot take these arguments."""
        if not self.typing:
            return
        if self._arguments is None:
            target = self._fn if self._fn is not None else self.run
            # A bound task's function takes the task first; callers do not pass it.
            self._arguments = ArgumentCheck(target, skip_first=self.bind and self._fn is not None)
        try:
            self._arguments.check(args if isinstance(args, list | tuple) else list(args), kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}") from exc

    # -- calling API ---------------------------------------------------------------

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Send the task with these arguments (shortcut for :meth:`apply_async`)."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> AsyncResult[R]:
        """Send the task; see ``Celery.send_task`` for the options."""
        args = list(args) if args else []
        kwargs = dict(kwargs) if kwargs else {}
        self.check_arguments(args, kwargs)
        app = self._app or _state.get_current_app()
        if send_defaults(app).always_eager:
            return self.apply(args, kwargs, task_id=task_id, link=link, link_error=link_error)
        for key in _SEND_OPTIONS:
            value = getattr(self, key)
            if value is not None:
                options.setdefault(key, value)
        if self.ignore_result is not None:
            options.setdefault("ignore_result", self.ignore_result)
        result: AsyncResult[R] = app.send_task(
            self.name,
            args,
            kwargs,
            task_id=task_id,
            link=link,
            link_error=link_error,
            shadow=shadow,
            **options,
        )
        return result

    def apply(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        **options: Any,
    ) -> EagerResult[R]:
        """Run the task in this process as a worker would, returning an EagerResult."""
        from celeriac.worker.execute import apply_eagerly

        result: EagerResult[R] = apply_eagerly(
            self,
            list(args or ()),
            dict(kwargs or {}),
            task_id=task_id,
            link=link,
            link_error=link_error,
            **options,
        )
        return result

    def AsyncResult(self, task_id: str) -> AsyncResult[R]:
        """A result handle for ``task_id`` of this task."""
        result: AsyncResult[R] = self.app.AsyncResult(task_id, task_name=self.name)
        return result

    # -- signatures ----------------------------------------------------------------

    def signature(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        immutable: bool = False,
        **options: Any,
    ) -> Signature[R]:
        """A signature of this task with these arguments and options."""
        sig: Signature[R] = Signature(
            self.name, args, kwargs, options, immutable=immutable, app=self._app
        )
        return sig

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Signature[R]:
        """A (possibly partial) signature: ``add.s(2, 2)``."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature[R]:
        """An immutable signature: ignores a parent's result."""
        return self.signature(args, kwargs, immutable=True)

    def map(self, it: Iterable[Any]) -> Signature[list[R]]:
        """One task calling this one for each item of ``it``."""
        from celeriac.canvas import xmap

        return xmap(self.s(), it)

    def starmap(self, it: Iterable[Any]) -> Signature[list[R]]:
        """One task calling this one with each argument tuple of ``it``."""
        from celeriac.canvas import xstarmap

        return xstarmap(self.s(), it)

    def chunks(self, it: Iterable[Any], n: int) -> Signature[Any]:
        """A group of ``starmap`` tasks, each over ``n`` argument tuples of ``it``."""
        from celeriac.canvas import chunks

        return chunks(self.s(), it, n)

    # -- state ---------------------------------------------------------------------

    def replace(self, sig: Signature[Any]) -> NoReturn:
        """Replace this running task with ``sig``, which takes over its id and its place.

        The new task (or workflow) inherits this task's callbacks, errbacks, the rest of
        its chain and its chord membership; this run then ends with :class:`Ignore`.

        Raises:
            Ignore: always, to end this run without a result of its own.
        """
        from celeriac.canvas import chord, group

        request = self.request
        if request.called_directly or request.id is None:
            raise RuntimeError("replace() works only inside a running task")
        replacement = sig.clone()
        if isinstance(replacement, group):  # a group's results become one list value
            replacement = chord(replacement, self.app.tasks["celery.accumulate"].s(index=0))
        for callback in request.callbacks or ():
            replacement.link(Signature.from_dict(callback, self.app))
        for errback in request.errbacks or ():
            replacement.link_error(Signature.from_dict(errback, self.app))
        options: dict[str, Any] = {
            "task_id": request.id,
            "root_id": request.root_id,
            "parent_id": request.parent_id,
        }
        if request.chain:
            options["chain"] = request.chain
        if request.chord and request.group:
            options.update(
                chord=request.chord, group_id=request.group, group_index=request.group_index
            )
        replacement.apply_async(**options)
        raise Ignore("Replaced by new task")

    def add_to_chord(self, sig: Signature[Any], lazy: bool = False) -> Any:
        """Add ``sig`` to the chord this task belongs to; the body waits for it too.

        Returns the sent task's result, or the signature itself when ``lazy``.
        """
        request = self.request
        if not request.group or not request.chord:
            raise ValueError("the current task is not a member of any chord")
        part = sig.clone().set(
            chord=request.chord, group_id=request.group, group_index=request.group_index
        )
        result = part.freeze()
        self.backend.add_to_chord(request.group, result.id)
        return part if lazy else part.apply_async()

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None
    ) -> None:
        """Store a custom state (and meta) for this task or ``task_id``."""
        task_id = task_id or self.request.id
        if task_id is None:
            raise ValueError("update_state needs a task_id outside a running task")
        self.backend.store_result(task_id, meta, state or states.PENDING, request=self.request)

    def retry(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: dt.datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Send this task again with the same id, and raise :class:`Retry`.

        Raises:
            Retry: always, when ``throw`` is true (the default).
            MaxRetriesExceededError: ``max_retries`` is reached and no ``exc`` was given
                (``exc`` itself is raised when given).
        """
        from celeriac.app.retries import retry_task

        options.update(args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta)
        return retry_task(
            self, self.request, countdown=countdown, max_retries=max_retries, **options
        )

    def autoretry(self, exc: Exception, request: Context) -> Exception:
        """What a run that raised ``exc`` ends with (:func:`celeriac.app.retries.autoretry`)."""
        from celeriac.app.retries import autoretry

        return autoretry(self, exc, request)

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {self.app.main or 'default'}>"
