"""Checking a call's arguments against a signature before a task is sent.

``inspect.Signature.bind`` costs a few microseconds per call; :class:`ArgumentCheck`
counts the arguments instead when the call has positional ones only (``delay(2, 2)``),
and binds them otherwise, for the exact error message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["ArgumentCheck"]


class ArgumentCheck:
    """Whether a call's arguments fit ``target``'s signature (``check`` raises if not).

    With ``skip_first``, the first parameter is left out (it is not the caller's).
    """

    __slots__ = ("most", "required", "signature")

    def __init__(self, target: Callable[..., Any], *, skip_first: bool = False) -> None:
        signature = inspect.signature(target)
        if skip_first:
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        self.signature = signature
        #: Positional arguments needed at least, and allowed at most (None: any number);
        #: required is None when a keyword-only parameter is required (so always bind).
        required, most, any_number, keyword_needed = 0, 0, False, False
        for param in signature.parameters.values():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                most += 1
                required += param.default is param.empty
            elif param.kind is param.VAR_POSITIONAL:
                any_number = True
            elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
                keyword_needed = True
        self.required: int | None = None if keyword_needed else required
        self.most: int | None = None if any_number else most

    def check(self, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise ``TypeError`` (``bind``'s message) if the call cannot take these arguments."""
        required, most = self.required, self.most
        if (
            not kwargs
            and required is not None
            and required <= len(args)
            and (most is None or len(args) <= most)
        ):
            return
        self.signature.bind(*args, **kwargs)
