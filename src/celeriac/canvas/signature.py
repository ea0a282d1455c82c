"""Signature: a task call (name, arguments, options) as a value that can travel.

A :class:`Signature` is a ``dict`` in Celery's wire shape (spec section 2.4), so it
serializes as-is and can be sent inside another task's arguments. It reaches the app
only to be applied, through ``_state`` or the app it was made by; this module imports
no worker, broker or backend code.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from celeriac import _state

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.result import AsyncResult

__all__ = ["Signature", "maybe_signature", "signature", "subtask"]

R = TypeVar("R")

#: Options a signature keeps when options are merged into it (Celery's _IMMUTABLE_OPTIONS).
_IMMUTABLE_OPTIONS = frozenset({"group_id", "stamped_headers"})


def _merge_options(own: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``own`` updated with ``new``, except that its group id and stamps are kept."""
    protected = _IMMUTABLE_OPTIONS.union(own.get("stamped_headers") or ())
    return {**own, **{k: v for k, v in new.items() if k not in protected or k not in own}}


class Signature(dict[str, Any], Generic[R]):
    """One task call, frozen into data.

    Args:
        task: The task name (or a task object, whose name is used).
        args: Positional arguments.
        kwargs: Keyword arguments.
        options: ``apply_async`` options (queue, countdown, link, ...).
        subtask_type: ``None`` for a task; ``chain``/``group``/``chord`` for canvas types.
        immutable: If true, a parent's result is not prepended to ``args``.
        app: The app to send through (the current app when ``None``).
    """

    def __init__(
        self,
        task: Any = None,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        subtask_type: str | None = None,
        immutable: bool = False,
        app: Celery | None = None,
        **extra_options: Any,
    ) -> None:
        if isinstance(task, dict):  # a signature in dict form
            source = task
            super().__init__(
                task=source.get("task"),
                args=list(source.get("args") or ()),
                kwargs=dict(source.get("kwargs") or {}),
                options=dict(source.get("options") or {}),
                subtask_type=source.get("subtask_type"),
                immutable=bool(source.get("immutable", False)),
            )
        else:
            name = getattr(task, "name", task)
            if app is None:
                app = getattr(task, "_app", None)
            super().__init__(
                task=name,
                args=list(args or ()),
                kwargs=dict(kwargs or {}),
                options={**(options or {}), **extra_options},
                subtask_type=subtask_type,
                immutable=immutable,
            )
        self._app = app

    # -- fields --------------------------------------------------------------------

    @property
    def task(self) -> str:
        """The task name."""
        return str(self["task"])

    @property
    def args(self) -> list[Any]:
        """Positional arguments."""
        value: list[Any] = self["args"]
        return value

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments."""
        value: dict[str, Any] = self["kwargs"]
        return value

    @property
    def options(self) -> dict[str, Any]:
        """``apply_async`` options."""
        value: dict[str, Any] = self["options"]
        return value

    @property
    def immutable(self) -> bool:
        """Whether a parent's result is ignored."""
        return bool(self.get("immutable"))

    @property
    def subtask_type(self) -> str | None:
        """``None`` for a plain task."""
        value: str | None = self.get("subtask_type")
        return value

    @property
    def id(self) -> str | None:
        """The task id, once frozen."""
        value: str | None = self.options.get("task_id")
        return value

    @property
    def app(self) -> Celery:
        """The app this signature is applied through."""
        return self._app or _state.get_current_app()

    # -- building ------------------------------------------------------------------

    def clone(
        self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None, **opts: Any
    ) -> Signature[R]:
        """A copy with partial arguments applied.

        ``args`` are prepended (unless immutable), ``kwargs`` merged with the new ones
        winning, options merged (the signature's own ``group_id`` and stamps win). The
        options are deep-copied, so linking to the copy leaves the original alone.
        """
        new_args = self.args if self.immutable else [*(args or ()), *self.args]
        new_kwargs = self.kwargs if self.immutable else {**self.kwargs, **(kwargs or {})}
        fields = {
            "task": self.task,
            "args": new_args,
            "kwargs": new_kwargs,
            "options": copy.deepcopy(_merge_options(self.options, opts)),
            "subtask_type": self.subtask_type,
            "immutable": self.immutable,
        }
        clone: Signature[R] = Signature.from_dict(fields, self._app)
        return clone

    def set(self, immutable: bool | None = None, **options: Any) -> Signature[R]:
        """Set options in place; return self."""
        if immutable is not None:
            self["immutable"] = immutable
        self.options.update(options)
        return self

    def link(self, callback: Signature[Any]) -> Signature[Any]:
        """Run ``callback`` with this task's result when it succeeds."""
        return self._append_option("link", callback)

    def link_error(self, errback: Signature[Any]) -> Signature[Any]:
        """Run ``errback`` when this task fails."""
        return self._append_option("link_error", errback)

    def _append_option(self, key: str, value: Signature[Any]) -> Signature[Any]:
        # As Celery: a single value becomes a list, and a value already there is not re-added.
        items = self.options.setdefault(key, [])
        if not isinstance(items, list):
            items = self.options[key] = [items]
        if value not in items:
            items.append(value)
        return value

    on_error = link_error

    def freeze(self, _id: str | None = None) -> AsyncResult[R]:
        """Give the signature a fixed task id (``_id`` if it has none yet); return its result."""
        task_id = self.options.get("task_id") or _id or str(uuid.uuid4())
        self.options["task_id"] = task_id
        result: AsyncResult[R] = self.app.AsyncResult(task_id)
        return result

    # -- calling -------------------------------------------------------------------

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[R]:
        """Send the task with partial arguments and options applied."""
        merged = self.clone(args, kwargs) if (args or kwargs) else self
        opts = _merge_options(merged.options, options)
        result: AsyncResult[R] = self.app.send_task(merged.task, merged.args, merged.kwargs, **opts)
        return result

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[R]:
        """Star-argument shortcut for :meth:`apply_async`."""
        return self.apply_async(args, kwargs)

    async def aapply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """:meth:`apply_async` for ``async`` code: publishing does not block the loop."""
        return await asyncio.to_thread(self.apply_async, args, kwargs, **options)

    async def adelay(self, *args: Any, **kwargs: Any) -> Any:
        """:meth:`delay` for ``async`` code."""
        return await self.aapply_async(args, kwargs)

    def apply(
        self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None, **opts: Any
    ) -> AsyncResult[R]:
        """Run the task locally (eagerly)."""
        merged = self.clone(args, kwargs) if (args or kwargs) else self
        task = self.app.tasks[merged.task]
        result: AsyncResult[R] = task.apply(
            merged.args, merged.kwargs, **{**merged.options, **opts}
        )
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task function in this process, no message sent."""
        merged = self.clone(args, kwargs)
        return self.app.tasks[merged.task](*merged.args, **merged.kwargs)

    @staticmethod
    def from_dict(value: dict[str, Any], app: Celery | None = None) -> Signature[Any]:
        """The signature ``value`` describes, as the class its ``subtask_type`` names."""
        if isinstance(value, Signature):
            return value
        cls = _TYPES.get(value.get("subtask_type") or "", Signature)
        return cls.from_fields(value, app)

    @classmethod
    def from_fields(cls, value: dict[str, Any], app: Celery | None) -> Signature[Any]:
        """Build this class from the dict form (canvas types override it)."""
        return cls(value, app=app)

    def __or__(self, other: Any) -> Signature[Any]:  # type: ignore[override]
        """``a | b``: a chain (``group | task`` becomes a chord)."""
        from celeriac.canvas.workflows import pipe

        return pipe(self, other)

    def __json__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (dict(self),)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}({', '.join(parts)})"


#: Canvas classes by ``subtask_type``, filled in by :mod:`celeriac.canvas.workflows`.
_TYPES: dict[str, type[Signature[Any]]] = {}


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature[Any]:
    """Make a signature from a name, a task, or a signature dict."""
    if isinstance(varies, Signature):
        return varies.clone()
    if isinstance(varies, dict):
        return Signature.from_dict(varies, kwargs.get("app"))
    return Signature(varies, *args, **kwargs)


subtask = signature


def maybe_signature(value: Any, app: Celery | None = None) -> Signature[Any] | None:
    """``value`` as a signature if it is one in dict form, else ``None``."""
    if value is None:
        return None
    if isinstance(value, Signature):
        return value
    if isinstance(value, dict):
        return Signature.from_dict(value, app)
    raise TypeError(f"not a signature: {value!r}")
