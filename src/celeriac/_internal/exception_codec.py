"""Exceptions to and from the ``{"exc_type", "exc_message", "exc_module"}`` form.

Celery stores a task's exception as that dict. celeriac writes its own exceptions under
``celery.exceptions`` (and reads them back from there) so that Celery peers rebuild the
same classes. Readers look classes up only in modules this process has already imported
(never importing because a stored result says so), only build ``BaseException``
subclasses, and otherwise synthesize a class with the same name and module.
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

from celeriac import exceptions as celeriac_exceptions
from celeriac import serialization

__all__ = ["RemoteTraceback", "exception_from_dict", "exception_to_dict", "is_exception_dict"]

_OWN_MODULE = "celeriac.exceptions"
_PEER_MODULE = "celery.exceptions"
# Celery stores some of its errors under the library that defines them (time limits
# under billiard, serialization errors under kombu); read those as celeriac's own.
_ALIASED_MODULES = ("billiard.exceptions", "kombu.exceptions")
_SYNTHESIZED: dict[tuple[str, str], type[BaseException]] = {}


class RemoteTraceback(Exception):
    """Carries the traceback text of an exception raised in another process."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb.rstrip()}\n"""'


def _jsonable_arg(value: Any) -> Any:
    # As Celery's ensure_serializable: keep what encodes, else its repr.
    try:
        serialization.json_dumps(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unrepresentable {type(value).__name__}>"
    return value


def exception_to_dict(exc: BaseException) -> dict[str, Any]:
    """Describe ``exc`` as Celery stores it."""
    cls = type(exc)
    module = cls.__module__
    if module == _OWN_MODULE:
        module = _PEER_MODULE
    args = exc.args
    if isinstance(exc, celeriac_exceptions.Retry):
        args = (str(exc),)
    return {
        "exc_type": cls.__qualname__,
        "exc_message": [_jsonable_arg(a) for a in args],
        "exc_module": module,
    }


def is_exception_dict(value: Any) -> bool:
    """Whether ``value`` looks like :func:`exception_to_dict`'s output."""
    return isinstance(value, dict) and "exc_type" in value and "exc_message" in value


def _find_class(module_name: str, qualname: str) -> type[BaseException] | None:
    if module_name in _ALIASED_MODULES:
        own = _find_class(_OWN_MODULE, qualname)
        if own is not None:
            return own
    if module_name == _PEER_MODULE:
        module_name = _OWN_MODULE
    if module_name == "builtins":
        target: Any = builtins
    else:
        # Only modules already imported: a stored result must not make us import code.
        target = sys.modules.get(module_name)
        if target is None:
            return None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    if isinstance(target, type) and issubclass(target, BaseException):
        return target
    return None


def _synthesize(module_name: str, qualname: str) -> type[BaseException]:
    key = (module_name, qualname)
    cls = _SYNTHESIZED.get(key)
    if cls is None:
        name = qualname.rsplit(".", 1)[-1]
        cls = type(name, (Exception,), {"__module__": module_name, "__qualname__": qualname})
        _SYNTHESIZED[key] = cls
    return cls


def exception_from_dict(value: dict[str, Any]) -> BaseException:
    """Rebuild an exception from its stored form; never raises."""
    qualname = str(value.get("exc_type") or "Exception")
    module_name = str(value.get("exc_module") or "builtins")
    message = value.get("exc_message")
    args = message if isinstance(message, list | tuple) else [message]
    cls = _find_class(module_name, qualname) or _synthesize(module_name, qualname)
    try:
        return cls(*args)
    except Exception:
        fallback = _synthesize(module_name, qualname)
        return fallback(*args)
