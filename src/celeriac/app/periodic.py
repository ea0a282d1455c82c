"""``app.add_periodic_task``: add a ``beat_schedule`` entry from code, as in Celery."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from celeriac.canvas import Signature

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.schedules import BaseSchedule

__all__ = ["add_periodic_task"]

logger = logging.getLogger(__name__)


def add_periodic_task(
    app: Celery,
    schedule: BaseSchedule | float | dt.timedelta,
    sig: Any,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    name: str | None = None,
    **opts: Any,
) -> str:
    """Add ``sig`` (a signature or a task) to ``app.conf.beat_schedule``; return its key.

    ``args`` and ``kwargs`` are applied to the signature as partial arguments and
    ``opts`` become the entry's ``apply_async`` options. The key is ``name``, or the
    signature's ``repr`` (``'proj.tasks.add(2, 2)'``) when unnamed.
    """
    if isinstance(sig, Signature):
        sig = sig.clone(args, dict(kwargs or {}))
    else:
        sig = Signature(getattr(sig, "name", sig), args, dict(kwargs or {}), app=app)
    key = name or repr(sig)
    beat_schedule = dict(app.conf.beat_schedule or {})
    if name is None and key in beat_schedule:
        logger.warning(
            "Periodic task key=%r shadowed a previous unnamed periodic task. Pass a name "
            "kwarg to add_periodic_task to silence this warning.",
            key,
        )
    beat_schedule[key] = {
        "schedule": schedule,
        "task": sig.task,
        "args": tuple(sig.args),
        "kwargs": dict(sig.kwargs),
        "options": {**sig.options, **opts},
    }
    app.conf.beat_schedule = beat_schedule
    return key
