"""Workflows: group, chain and chord, and the map/chunk helpers.

Each is a :class:`Signature` whose ``task`` is Celery's built-in name (``celery.group``,
``celery.chain``, ``celery.chord``) and whose ``kwargs`` carry the parts, exactly as
Celery serializes them (spec section 2.4), so a workflow can travel inside a message
and be applied by a worker. Applying one publishes its first tasks; the rest travels
in those messages (``embed.chain``, ``embed.chord``) or waits in the result backend
(the chord counter), never in a process that polls.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from celeriac import _state
from celeriac.canvas.signature import _TYPES, Signature, maybe_signature
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.result import AsyncResult, GroupResult

__all__ = ["chain", "chord", "chunks", "group", "pipe", "xmap", "xstarmap"]


def _as_signatures(tasks: Any, app: Celery | None) -> list[Signature[Any]]:
    if len(tasks) == 1 and not isinstance(tasks[0], dict | Signature):
        tasks = tuple(tasks[0])  # group(generator) / group([a, b])
    found = []
    for task in tasks:
        sig = maybe_signature(task, app)
        if sig is None:
            raise TypeError(f"not a signature: {task!r}")
        found.append(sig)
    return found


def _app_of(sigs: Iterable[Signature[Any]], app: Celery | None) -> Celery | None:
    return app or next((s._app for s in sigs if s._app is not None), None)


class group(Signature[list[Any]]):
    """Run tasks in parallel: ``group(add.s(i, i) for i in range(10))().get()``."""

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        sigs = _as_signatures(tasks, app)
        super().__init__(
            "celery.group", (), {"tasks": sigs}, options, "group", app=_app_of(sigs, app)
        )

    @classmethod
    def from_fields(cls, value: dict[str, Any], app: Celery | None) -> Signature[Any]:
        """A group from its dict form."""
        made = cls(
            *(value.get("kwargs") or {}).get("tasks", ()), app=app, **(value.get("options") or {})
        )
        made["args"] = list(value.get("args") or ())
        made["immutable"] = bool(value.get("immutable"))
        return made

    @property
    def tasks(self) -> list[Signature[Any]]:
        """The member signatures."""
        return [maybe_signature(t, self._app) or Signature(t) for t in self.kwargs["tasks"]]

    def freeze(self, _id: str | None = None) -> GroupResult:  # type: ignore[override]
        """Fix the group id and every member's id; return the group's result."""
        from celeriac.result import GroupResult

        group_id = _id or self.options.get("task_id") or str(uuid.uuid4())
        self.options["task_id"] = group_id
        members = self.tasks
        results = [member.freeze() for member in members]
        self.kwargs["tasks"] = members
        return GroupResult(group_id, results, app=self.app)

    def apply_async(  # type: ignore[override]
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> GroupResult:
        """Send every member (partial arguments prepended to each), in batches."""
        from celeriac.app.sending import publishing_batch
        from celeriac.result import GroupResult

        options = {**self.options, **options}
        group_id = options.pop("task_id", None) or str(uuid.uuid4())
        partial = [*self.args, *(args or ())]
        chord_body = options.pop("chord", None)
        results: list[Any] = []
        with publishing_batch(self.app):
            for index, member in enumerate(self.tasks):
                opts = {**options, "group_id": group_id, "group_index": index}
                if chord_body is not None:
                    opts["chord"] = chord_body
                if not partial and not kwargs and type(member) is Signature:
                    sent = member.apply_async(**opts)  # sending a plain task changes nothing
                else:
                    sent = member.clone(partial, kwargs).apply_async(**opts)
                results.append(sent)
        result = GroupResult(group_id, results, app=self.app)
        running = _state.current_task_and_request()
        if running is not None and options.get("add_to_parent", True):
            running[1].children.append(result.as_tuple())
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> GroupResult:
        """Send the group (with partial arguments): ``g(10).get()``."""
        return self.apply_async(args, kwargs)

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(t) for t in self.tasks)}])"


class _chain(Signature[Any]):
    """Run tasks one after the other, each result the first argument of the next."""

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        sigs = _flatten(_as_signatures(tasks, app))
        super().__init__(
            "celery.chain", (), {"tasks": sigs}, options, "chain", app=_app_of(sigs, app)
        )

    @classmethod
    def from_fields(cls, value: dict[str, Any], app: Celery | None) -> Signature[Any]:
        """A chain from its dict form."""
        made = cls(
            *(value.get("kwargs") or {}).get("tasks", ()), app=app, **(value.get("options") or {})
        )
        made["args"] = list(value.get("args") or ())
        return made

    @property
    def tasks(self) -> list[Signature[Any]]:
        """The steps, in order."""
        return [maybe_signature(t, self._app) or Signature(t) for t in self.kwargs["tasks"]]

    def freeze(self, _id: str | None = None) -> Any:
        """Fix every step's id; return the last step's result, parents linked."""
        steps = _upgrade_groups(self.tasks)
        results = [step.freeze() for step in steps[:-1]]
        results.append(steps[-1].freeze(_id))
        for previous, result in itertools.pairwise(results):
            result.parent = previous
        self.kwargs["tasks"] = steps
        return results[-1]

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send the first step; the others travel in its message (reversed)."""
        steps = _upgrade_groups(self.tasks)
        partial = [*self.args, *(args or ())]
        options = {**self.options, **options}
        if len(steps) == 1:
            return steps[0].apply_async(partial, kwargs, **options)
        membership = _pop_membership(options)
        if membership:  # a chain inside a group or chord header: its last step reports
            steps[-1] = steps[-1].clone()
            for key, value in membership.items():
                steps[-1].options.setdefault(key, value)
        first, rest = steps[0], steps[1:]
        if isinstance(first, chord):
            return first.with_body_chain(rest).apply_async(partial, kwargs, **options)
        self.kwargs["tasks"] = steps
        last = self.freeze(options.pop("task_id", None))
        first_options = {**options, "task_id": first.id}
        first.clone(partial, kwargs).apply_async(
            chain=[dict(step) for step in reversed(rest)], **first_options
        )
        return last

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Send the chain (with partial arguments): ``chain(add.s(4) | mul.s(8))(4)``."""
        return self.apply_async(args, kwargs)

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks)


_MEMBERSHIP = ("group_id", "group_index", "chord")


def _pop_membership(options: dict[str, Any]) -> dict[str, Any]:
    """Remove and return the options that make a task a counted part of a chord.

    A bare ``group_id`` (what a chord writes on its body) is not membership.
    """
    if options.get("chord") is None:
        return {}
    return {key: options.pop(key) for key in _MEMBERSHIP if options.get(key) is not None}


def _flatten(sigs: list[Signature[Any]]) -> list[Signature[Any]]:
    steps: list[Signature[Any]] = []
    for sig in sigs:
        steps.extend(sig.tasks if isinstance(sig, _chain) else [sig])
    return steps


def _upgrade_groups(steps: list[Signature[Any]]) -> list[Signature[Any]]:
    """A group followed by another step becomes a chord with that step as its body."""
    upgraded: list[Signature[Any]] = []
    for step in steps:
        if upgraded and isinstance(upgraded[-1], group) and not isinstance(step, group):
            upgraded[-1] = chord(upgraded[-1], step)
        else:
            upgraded.append(step)
    return upgraded


def chain(*tasks: Any, app: Celery | None = None, **options: Any) -> Signature[Any]:
    """``chain(a, b, c)`` or ``chain(a | b)``: steps run one after another."""
    return _chain(*tasks, app=app, **options)


class chord(Signature[Any]):
    """A group with a callback: ``chord(header, body)()``; the body gets the results."""

    def __init__(
        self,
        header: Any,
        body: Any = None,
        kwargs: dict[str, Any] | None = None,
        app: Celery | None = None,
        **options: Any,
    ) -> None:
        head = header if isinstance(header, group) else group(header, app=app)
        body_sig = maybe_signature(body, app)
        super().__init__(
            "celery.chord",
            (),
            {"header": head, "body": body_sig, "kwargs": dict(kwargs or {})},
            options,
            "chord",
            app=app or head._app or (body_sig._app if body_sig is not None else None),
        )

    @classmethod
    def from_fields(cls, value: dict[str, Any], app: Celery | None) -> Signature[Any]:
        """A chord from its dict form."""
        kwargs = value.get("kwargs") or {}
        header = kwargs.get("header") or ()
        head = maybe_signature(header, app) if isinstance(header, dict) else group(header, app=app)
        made = cls(
            head, kwargs.get("body"), kwargs.get("kwargs"), app=app, **(value.get("options") or {})
        )
        made["args"] = list(value.get("args") or ())
        return made

    @property
    def header(self) -> group:
        """The tasks that run in parallel."""
        head = self.kwargs["header"]
        return head if isinstance(head, group) else group(head, app=self._app)

    @property
    def body(self) -> Signature[Any] | None:
        """The callback that receives the header's results."""
        return maybe_signature(self.kwargs.get("body"), self._app)

    def with_body_chain(self, rest: list[Signature[Any]]) -> chord:
        """This chord with ``rest`` chained after its body."""
        body = self.body
        new_body = _chain(body, *rest, app=self._app) if body is not None else _chain(*rest)
        return chord(self.header, new_body, app=self._app, **self.options)

    def freeze(self, _id: str | None = None) -> AsyncResult[Any]:
        """Fix the body's id (the chord's result) and the header's ids."""
        body = self.body
        if body is None:
            raise ValueError("a chord needs a body to be frozen")
        header = self.header
        header_result = header.freeze(header.options.get("task_id"))
        self.kwargs["header"] = header
        result = body.freeze(_id or self.options.get("task_id"))
        self.kwargs["body"] = body
        result.parent = header_result
        return result

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        """Store the join, send the header; the last header task to finish sends the body."""
        body = self.body
        if body is None:
            raise ValueError("a chord needs a body")
        app = self.app
        if not app.backend.supports_native_join:
            raise ImproperlyConfigured(
                f"the {app.conf.result_backend} result backend does not support chords "
                "(a group followed by a task is a chord too): use Redis or SQLite results"
            )
        options = {**self.options, **options}
        rest = options.pop("chain", None)
        if rest:
            steps = [Signature.from_dict(step, app) for step in reversed(rest)]
            return self.with_body_chain(steps).apply_async(args, kwargs, **options)
        header = self.header
        partial = [*self.args, *(args or ())]
        outer = _pop_membership(options)  # set when this chord is inside another's header
        header_result = header.freeze(header.options.get("task_id"))
        body = body.clone()
        body_result = body.freeze(options.pop("task_id", None))
        if outer:
            body.options.update(outer)  # the body is the part the outer chord counts
        else:
            body.set(group_id=header_result.id)
        body_result.parent = header_result
        if not header.tasks:
            body.apply_async(([],))
            return body_result
        app.backend.apply_chord(header_result.id, [r.id for r in header_result.results])
        header.apply_async(partial, kwargs, task_id=header_result.id, chord=dict(body), **options)
        return body_result

    def __call__(self, body: Any = None, **options: Any) -> AsyncResult[Any]:
        """Send the chord; ``chord(header)(body)`` names the body here, as in Celery."""
        if body is not None:
            with_body = chord(
                self.header, body, self.kwargs.get("kwargs"), app=self._app, **self.options
            )
            return with_body.apply_async(**options)
        return self.apply_async(**options)

    def __or__(self, other: Any) -> Signature[Any]:  # type: ignore[override]
        """``chord | task`` chains the task after the body."""
        if isinstance(other, Signature) and not isinstance(other, group | _chain):
            return self.with_body_chain([other])
        return super().__or__(other)

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"


def pipe(left: Signature[Any], right: Any) -> Signature[Any]:
    """What ``left | right`` means for any two signatures."""
    right_sig = maybe_signature(right, left._app)
    if right_sig is None:
        raise TypeError(f"cannot chain {right!r}")
    if isinstance(left, group) and not isinstance(right_sig, group):
        return chord(left, right_sig)
    return _chain(left, right_sig)


def _map_signature(kind: str, task: Signature[Any], it: Iterable[Any]) -> Signature[Any]:
    return Signature(
        f"celery.{kind}", (), {"task": task, "it": list(it)}, immutable=True, app=task._app
    )


def xmap(task: Signature[Any], it: Iterable[Any]) -> Signature[Any]:
    """One task calling ``task`` for each item: ``[task(x) for x in it]``."""
    return _map_signature("map", task, it)


def xstarmap(task: Signature[Any], it: Iterable[Any]) -> Signature[Any]:
    """One task calling ``task(*args)`` for each args tuple in ``it``."""
    return _map_signature("starmap", task, it)


def chunks(task: Signature[Any], it: Iterable[Any], n: int) -> group:
    """Split ``it`` into parts of ``n`` argument tuples, one ``starmap`` task per part."""
    items = list(it)
    parts = [items[i : i + n] for i in range(0, len(items), n)]
    return group(*(xstarmap(task, part) for part in parts), app=task._app)


_TYPES.update({"group": group, "chain": _chain, "chord": chord})
