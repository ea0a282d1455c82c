"""What happened to one task: the :class:`Outcome` a pool reports back to the worker.

:mod:`celeriac.worker.execute` makes outcomes (and re-exports this module's names).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from celeriac._internal.exception_codec import exception_from_dict, exception_to_dict

__all__ = ["INVALID", "Outcome"]

#: Outcome state when the body could not be decoded: the worker dead-letters it.
INVALID = "INVALID"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one task, reported back to the worker's main loop.

    It crosses from a prefork child to the worker pickled. An exception that would not
    survive that (it refuses to pickle, or to be rebuilt from its args) travels as a
    stand-in of the same name and module, rebuilt from its args as the result backend
    rebuilds stored exceptions; its traceback text is in :attr:`traceback` either way.
    """

    state: str
    retval: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    runtime: float = 0.0
    requeue: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        exception: BaseException | dict[str, Any] | None = self.exception
        if self.exception is not None and not _survives_pickling(self.exception):
            exception = exception_to_dict(self.exception)
        fields = (self.retval, exception, self.traceback, self.runtime, self.requeue)
        return _rebuild_outcome, (self.state, *fields)


def _survives_pickling(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return False
    return True


def _rebuild_outcome(
    state: str,
    retval: Any,
    exception: BaseException | dict[str, Any] | None,
    traceback: str | None,
    runtime: float,
    requeue: bool,
) -> Outcome:
    if isinstance(exception, dict):
        exception = exception_from_dict(exception)
    return Outcome(state, retval, exception, traceback, runtime, requeue)
